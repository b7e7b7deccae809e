// Unit: plan → ACE operations, ledger apply/replay/revert over an in-memory security-descriptor store, and the
// world-writable audit selection. No Windows needed: these are the decisions, not their enforcement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  alreadyPresent,
  applyOperations,
  emptyLedger,
  revertLedger,
  type ResolvedAclOp,
} from '../../src/sandbox/windows/ledger';
import { MemoryStore } from './win32-memory-store';
import { grantsWrite, selectAuditTargets } from '../../src/sandbox/windows/audit';
import { resolveAclOps, type Identity } from '../../src/sandbox/windows/prepare';
import { compilePlan } from '../../src/policy';
import { DENY_WRITE_MASK, WRITABLE_ROOT_MASK } from '../../src/policy/compile-win32';
import type { Win32Plan } from '../../src/policy/plan';

const CAP = 'S-1-5-21-1-2-3-4';
const id: Identity = { userSid: 'S-1-5-21-9-9-9-1000', logonSid: 'S-1-5-5-0-1', capabilities: { 'c:\\ws': CAP } };

function plan(): Win32Plan {
  return compilePlan(
    { workspaceRoots: ['C:\\ws'] },
    {
      platform: 'win32',
      home: 'C:\\Users\\me',
      userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
      env: {},
      stateDir: 'C:\\Users\\me\\AppData\\Local\\AgentSandbox',
    },
  ) as Win32Plan;
}

test('plan → ACE operations: a grant without FILE_DELETE_CHILD on the root, OI|CI, and denies on protected paths', () => {
  const ops = resolveAclOps(plan(), id);
  const root = ops.find((o) => o.path === 'C:\\ws' && o.action === 'grant')!;
  assert.equal(root.sid, CAP);
  assert.equal(root.mask, WRITABLE_ROOT_MASK.value);
  assert.equal(root.mask & 0x40, 0, 'no FILE_DELETE_CHILD');
  assert.equal(root.inheritance, 3);
  const hooks = ops.find((o) => o.path === 'C:\\ws\\.git\\hooks')!;
  assert.equal(hooks.action, 'deny');
  assert.equal(hooks.mask, DENY_WRITE_MASK.value);
  assert.equal(hooks.createIfMissing, 'dir');
  assert.ok(
    ops.every((o) => o.sid === CAP),
    'unelevated plans only name the capability SID',
  );
});

test('applying twice changes nothing the second time (present ACEs are skipped)', () => {
  const ops = resolveAclOps(plan(), id);
  const store = new MemoryStore(['C:\\ws']);
  const ledger = emptyLedger();
  const first = applyOperations(ops, store, ledger, 'C:\\Users\\me');
  assert.equal(first.failures.length, 0);
  assert.ok(first.applied.length >= 2);
  const writes = store.writes;
  const second = applyOperations(ops, store, ledger, 'C:\\Users\\me');
  assert.equal(second.applied.length, 0);
  assert.equal(store.writes, writes);
  assert.equal(ledger.records.length, first.applied.length);
});

test('missing protected folders are created before the deny, and a missing protected file gets an empty placeholder', () => {
  const store = new MemoryStore(['C:\\ws']);
  const r = applyOperations(resolveAclOps(plan(), id), store, emptyLedger(), 'C:\\Users\\me');
  assert.equal(store.kind('C:\\ws\\.git\\hooks'), 'dir');
  assert.deepEqual(
    r.applied.find((a) => a.path === 'C:\\ws\\.git')?.createdPaths,
    ['C:\\ws\\.git'],
    'the missing parent folder is created (and recorded) by its own pin',
  );
  assert.deepEqual(r.applied.find((a) => a.path === 'C:\\ws\\.git\\hooks')?.createdPaths, ['C:\\ws\\.git\\hooks']);
  assert.equal(store.kind('C:\\ws\\.git\\config'), 'file');
  const config = r.applied.find((a) => a.path === 'C:\\ws\\.git\\config')!;
  assert.equal(config.action, 'deny');
  assert.equal(config.created, true);
  assert.deepEqual(config.createdPaths, ['C:\\ws\\.git\\config']);
  assert.ok(store.entries('C:\\ws\\.git\\config').some((e) => e.sid === CAP && e.mode === 'deny'));
  assert.equal(r.skipped.length, 0);
});

test('revert deletes the placeholders and folders it created while they are empty, and keeps one holding data', () => {
  const store = new MemoryStore(['C:\\ws']);
  const ledger = emptyLedger();
  applyOperations(resolveAclOps(plan(), id), store, ledger, 'C:\\Users\\me');
  store.nonEmpty.add('c:\\ws\\.vscode');
  const r = revertLedger(ledger, store);
  assert.equal(r.failures.length, 0);
  for (const gone of ['C:\\ws\\.git\\config', 'C:\\ws\\.git\\hooks', 'C:\\ws\\.git', 'C:\\ws\\.agent-sandbox']) {
    assert.equal(store.kind(gone), 'missing', gone);
    assert.ok(r.removed.includes(gone), gone);
  }
  assert.deepEqual(r.keptCreated, ['C:\\ws\\.vscode']);
  assert.equal(store.kind('C:\\ws\\.vscode'), 'dir');
  assert.equal(store.kind('C:\\ws'), 'dir', 'a root we did not create stays');
});

test("reverting one workspace's SID keeps a placeholder that another SID's record still protects", () => {
  const two = compilePlan(
    { workspaceRoots: ['C:\\ws', 'C:\\ws2'] },
    {
      platform: 'win32',
      home: 'C:\\Users\\me',
      userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
      env: {},
      stateDir: 'C:\\Users\\me\\AppData\\Local\\AgentSandbox',
    },
  ) as Win32Plan;
  const CAP2 = 'S-1-5-21-1-2-3-5';
  const ids: Identity = { ...id, capabilities: { 'c:\\ws': CAP, 'c:\\ws2': CAP2 } };
  const store = new MemoryStore(['C:\\ws', 'C:\\ws2', two.tempDir]);
  const ledger = emptyLedger();
  applyOperations(resolveAclOps(two, ids), store, ledger, 'C:\\Users\\me');
  const first = revertLedger(ledger, store, (r) => r.sid === CAP);
  assert.equal(first.failures.length, 0);
  assert.equal(store.kind('C:\\ws\\.git\\config'), 'file', "still denied for the other workspace's SID");
  assert.ok(store.entries('C:\\ws\\.git\\config').every((e) => e.sid === CAP2));
  assert.ok(ledger.records.length > 0 && ledger.records.every((r) => r.sid === CAP2));
  revertLedger(ledger, store);
  assert.equal(store.kind('C:\\ws\\.git\\config'), 'missing');
  assert.equal(store.kind('C:\\ws2\\.git'), 'missing');
});

test('revert removes exactly what the ledger recorded and leaves other ACEs alone', () => {
  const store = new MemoryStore(['C:\\ws']);
  store.apply('C:\\ws', [{ sid: 'S-1-5-32-545', mode: 'grant', mask: 1, inheritance: 3 }]);
  const ledger = emptyLedger();
  applyOperations(resolveAclOps(plan(), id), store, ledger, 'C:\\Users\\me');
  const r = revertLedger(ledger, store);
  assert.equal(r.failures.length, 0);
  assert.equal(ledger.records.length, 0);
  assert.deepEqual(store.entries('C:\\ws'), [{ sid: 'S-1-5-32-545', mode: 'grant', mask: 1, inheritance: 3 }]);
  assert.deepEqual(store.entries('C:\\ws\\.git\\hooks'), []);
});

test('a failing path is reported and kept for the next revert; the others are reverted', () => {
  const store = new MemoryStore(['C:\\ws', 'C:\\other']);
  const ledger = emptyLedger();
  const ops: ResolvedAclOp[] = [
    { path: 'C:\\ws', sid: CAP, action: 'grant', mask: 1, inheritance: 3, reason: 'writable-root' },
    { path: 'C:\\other', sid: CAP, action: 'deny', mask: 2, inheritance: 3, reason: 'world-writable-audit' },
  ];
  applyOperations(ops, store, ledger, 'C:\\Users\\me');
  store.failOn.set('c:\\other', () => new Error('access denied'));
  const r = revertLedger(ledger, store);
  assert.equal(r.reverted.length, 1);
  assert.equal(r.failures.length, 1);
  assert.deepEqual(
    ledger.records.map((x) => x.path),
    ['C:\\other'],
  );
  store.failOn.clear();
  assert.equal(revertLedger(ledger, store).reverted.length, 1);
  assert.equal(ledger.records.length, 0);
});

test('an apply failure is collected per operation and not recorded', () => {
  const store = new MemoryStore(['C:\\ws', 'C:\\theirs']);
  store.failOn.set('c:\\theirs', () => new Error('access denied'));
  const ledger = emptyLedger();
  const r = applyOperations(
    [
      { path: 'C:\\theirs', sid: CAP, action: 'grant', mask: 1, inheritance: 3, reason: 'writable-root' },
      { path: 'C:\\ws', sid: CAP, action: 'grant', mask: 1, inheritance: 3, reason: 'writable-root' },
    ],
    store,
    ledger,
    'C:\\Users\\me',
  );
  assert.equal(r.failures.length, 1);
  assert.deepEqual(
    ledger.records.map((x) => x.path),
    ['C:\\ws'],
  );
});

test('the profile root and NTUSER.DAT are never touched', () => {
  const store = new MemoryStore(['C:\\Users\\me', 'C:\\Users\\me\\NTUSER.DAT']);
  const r = applyOperations(
    [
      { path: 'C:\\Users\\me\\', sid: CAP, action: 'grant', mask: 1, inheritance: 3, reason: 'writable-root' },
      {
        path: 'C:\\Users\\me\\NTUSER.DAT',
        sid: CAP,
        action: 'deny',
        mask: 1,
        inheritance: 0,
        reason: 'protected-path',
      },
    ],
    store,
    emptyLedger(),
    'C:\\Users\\me',
  );
  assert.equal(r.failures.length, 2);
  assert.equal(store.writes, 0);
});

test('alreadyPresent needs the same SID, kind and inheritance, a superset mask, and an explicit ACE', () => {
  const op: ResolvedAclOp = {
    path: 'p',
    sid: CAP,
    action: 'grant',
    mask: 0x3,
    inheritance: 3,
    reason: 'writable-root',
  };
  assert.ok(alreadyPresent([{ sid: CAP, mode: 'grant', mask: 0x7, inheritance: 3 }], op));
  assert.ok(!alreadyPresent([{ sid: CAP, mode: 'grant', mask: 0x1, inheritance: 3 }], op));
  assert.ok(!alreadyPresent([{ sid: CAP, mode: 'deny', mask: 0x3, inheritance: 3 }], op));
  assert.ok(
    !alreadyPresent([{ sid: CAP, mode: 'grant', mask: 0x3, inheritance: 0x13 }], op),
    'inherited does not count',
  );
});

test('audit: world-writable folders outside the roots are selected; roots, their insides and duplicates are not', () => {
  const writable = new Set(['c:\\tools', 'c:', 'c:\\ws\\sub', 'c:\\public']);
  const r = selectAuditTargets(
    ['C:\\tools', 'C:\\ws\\sub', 'C:\\ws', 'C:\\', 'C:\\tools\\', 'C:\\locked', 'C:\\Public'],
    ['C:\\ws'],
    (d) => writable.has(d.toLowerCase().replace(/(.)\\$/, '$1')),
    1000,
    () => 0,
  );
  assert.deepEqual(r.targets, [
    { path: 'C:\\tools', scope: 'tree' },
    { path: 'C:\\', scope: 'self' },
    { path: 'C:\\Public', scope: 'tree' },
  ]);
  assert.equal(r.scanned, 4);
});

test('audit: the time budget stops probing and lists what was not checked', () => {
  let t = 0;
  const r = selectAuditTargets(
    ['C:\\a', 'C:\\b', 'C:\\c'],
    [],
    () => {
      t += 600;
      return true;
    },
    1000,
    () => t,
  );
  assert.deepEqual(
    r.targets.map((x) => x.path),
    ['C:\\a', 'C:\\b'],
  );
  assert.deepEqual(r.unscanned, ['C:\\c']);
});

test('grantsWrite: only allow ACEs with write bits for the restricting SIDs count', () => {
  assert.ok(grantsWrite([{ sid: 'S-1-1-0', mode: 'grant', mask: 0x2, inheritance: 3 }], ['S-1-1-0']));
  assert.ok(grantsWrite([{ sid: 'S-1-1-0', mode: 'grant', mask: 0x10000000, inheritance: 3 }], ['S-1-1-0']));
  assert.ok(!grantsWrite([{ sid: 'S-1-1-0', mode: 'grant', mask: 0x1200a9, inheritance: 3 }], ['S-1-1-0']));
  assert.ok(!grantsWrite([{ sid: 'S-1-1-0', mode: 'deny', mask: 0x2, inheritance: 3 }], ['S-1-1-0']));
  assert.ok(!grantsWrite([{ sid: 'S-1-5-32-545', mode: 'grant', mask: 0x2, inheritance: 3 }], ['S-1-1-0']));
});

test('a missing .git\\commondir gets a placeholder naming the repository itself (empty breaks git), and revert takes it back', () => {
  const store = new MemoryStore(['C:\\ws', 'C:\\ws\\.git']);
  const ledger = emptyLedger();
  const r = applyOperations(resolveAclOps(plan(), id), store, ledger, 'C:\\Users\\me');
  const rec = r.applied.find((a) => a.path === 'C:\\ws\\.git\\commondir')!;
  assert.equal(rec.action, 'deny');
  assert.equal(rec.placeholderContent, '.\n');
  assert.equal(store.contents.get('c:\\ws\\.git\\commondir'), '.\n');
  assert.equal(store.contents.get('c:\\ws\\.git\\config'), '', 'other placeholders stay empty');
  const back = revertLedger(ledger, store);
  assert.ok(back.removed.includes('C:\\ws\\.git\\commondir'), 'still as we made it: removed');
  assert.equal(store.kind('C:\\ws\\.git'), 'dir', 'the existing .git stays');
});

test('a deny that cannot be written takes back the placeholder (and folders) it created, since nothing records them', () => {
  const store = new MemoryStore(['C:\\ws']);
  store.failOn.set('c:\\ws\\.git\\config', () => new Error('access denied'));
  const ledger = emptyLedger();
  const r = applyOperations(
    [
      {
        path: 'C:\\ws\\.git\\config',
        sid: CAP,
        action: 'deny',
        mask: DENY_WRITE_MASK.value,
        inheritance: 0,
        reason: 'protected-path',
        createIfMissing: 'file',
      },
    ],
    store,
    ledger,
    'C:\\Users\\me',
  );
  assert.equal(r.failures.length, 1);
  assert.deepEqual(ledger.records, []);
  assert.equal(store.kind('C:\\ws\\.git\\config'), 'missing');
  assert.equal(store.kind('C:\\ws\\.git'), 'missing', 'the folder made for it went too');
});

test('an ACE of ours found present but not in the ledger (crash between write and save) is adopted, so uninstall reverts it', () => {
  const store = new MemoryStore(['C:\\ws']);
  const op: ResolvedAclOp = {
    path: 'C:\\ws',
    sid: 'S-1-5-21-1-2-3-4',
    action: 'grant',
    mask: 0x3,
    inheritance: 3,
    reason: 'writable-root',
  };
  store.apply('C:\\ws', [{ sid: op.sid, mode: 'grant', mask: op.mask, inheritance: op.inheritance }]);
  store.writes = 0;
  const ledger = emptyLedger();
  const r = applyOperations([op], store, ledger, 'C:\\Users\\me');
  assert.equal(store.writes, 0, 'nothing is rewritten');
  assert.deepEqual(r.skipped, [op]);
  assert.equal(ledger.records.length, 1);
  assert.equal(ledger.records[0].adopted, true);
  applyOperations([op], store, ledger, 'C:\\Users\\me');
  assert.equal(ledger.records.length, 1, 'adopted once');
  revertLedger(ledger, store);
  assert.deepEqual(store.entries('C:\\ws'), []);
});
