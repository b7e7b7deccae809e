// Unit: the traverse-only ACEs above targets inside the developer's profile (review §3.4): which folders get one,
// how setup plans them, and how the ledger writes (in place), records, skips and reverts them over an in-memory
// store. Whether Windows then lets the sandbox accounts lstat those folders cannot be checked here (no Windows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TRAVERSE_INHERITANCE,
  TRAVERSE_MASK,
  profileTraverseFolders,
} from '../../src/sandbox/windows/setup/profile-traverse';
import {
  applyOperations,
  emptyLedger,
  isTraverseOnly,
  revertLedger,
  type ResolvedAclOp,
} from '../../src/sandbox/windows/ledger';
import { buildSetupPlan } from '../../src/sandbox/windows/setup/setup-plan';
import { decodeRequest, encodeRequest } from '../../src/sandbox/windows/setup/payload';
import { MemoryStore } from './win32-memory-store';
import { elevatedPlan, HOME } from './win32-elevated-plan-fixture';

const GROUP = 'S-1-5-21-7-7-7-1001';

test('traverse folders: from the profile root (inclusive) to the target (exclusive), once each, in order', () => {
  assert.deepEqual(
    profileTraverseFolders(['C:\\Users\\dev\\src\\a\\b', 'c:\\users\\DEV\\src\\c\\'], 'C:\\Users\\dev'),
    ['C:\\Users\\dev', 'C:\\Users\\dev\\src', 'C:\\Users\\dev\\src\\a'],
  );
  // A direct child of the profile needs only the profile root.
  assert.deepEqual(profileTraverseFolders(['C:\\Users\\dev\\ws'], 'C:\\Users\\dev\\'), ['C:\\Users\\dev']);
});

test('traverse folders: none outside the profile, none above it, none for the profile itself (C:\\Users\\devil is not inside C:\\Users\\dev)', () => {
  const home = 'C:\\Users\\dev';
  assert.deepEqual(profileTraverseFolders(['C:\\Users\\devil\\src\\x'], home), []);
  assert.deepEqual(
    profileTraverseFolders(['C:\\src\\x', 'D:\\Users\\dev\\x', '\\\\srv\\share\\x', 'rel\\x'], home),
    [],
  );
  assert.deepEqual(profileTraverseFolders([home, 'C:\\Users', 'C:\\'], home), []);
  assert.deepEqual(profileTraverseFolders(['C:\\Users\\dev\\..\\other\\x'], home), [], '.. is resolved first');
  // Control: the same target inside the profile does get the root.
  assert.deepEqual(profileTraverseFolders(['C:\\Users\\dev\\x'], home), [home]);
  for (const f of profileTraverseFolders(['C:\\Users\\dev\\a\\b\\c'], home))
    assert.ok(f.toLowerCase().startsWith(home.toLowerCase()), f);
});

test('traverse folders: a folder that is itself a target is left out (its own grant covers it)', () => {
  assert.deepEqual(profileTraverseFolders(['C:\\Users\\dev\\src', 'C:\\Users\\dev\\src\\app'], 'C:\\Users\\dev'), [
    'C:\\Users\\dev',
  ]);
});

test('traverse mask: FILE_TRAVERSE | FILE_READ_ATTRIBUTES | SYNCHRONIZE, no inheritance flags', () => {
  assert.equal(TRAVERSE_MASK.value, 0x20 | 0x80 | 0x100000);
  assert.equal(TRAVERSE_INHERITANCE.value, 0);
  assert.ok(isTraverseOnly({ action: 'grant', mask: TRAVERSE_MASK.value, inheritance: 0 }));
  assert.ok(
    !isTraverseOnly({ action: 'grant', mask: TRAVERSE_MASK.value | 0x1, inheritance: 0 }),
    'no FILE_LIST_DIRECTORY',
  );
  assert.ok(!isTraverseOnly({ action: 'grant', mask: TRAVERSE_MASK.value, inheritance: 2 }), 'no inheritance');
  assert.ok(!isTraverseOnly({ action: 'deny', mask: TRAVERSE_MASK.value, inheritance: 0 }));
  assert.ok(!isTraverseOnly({ action: 'grant', mask: 0, inheritance: 0 }));
});

test('setup plan: traverse-only ACEs above the workspace, runtime and temp folders in the profile; temp ancestors may be created', () => {
  const p = buildSetupPlan({
    plan: elevatedPlan(['C:\\Users\\dev\\src\\app', 'C:\\src\\other'], {
      runtimeDirs: ['C:\\Users\\dev\\AppData\\Local\\Programs\\Git', HOME],
    }),
    home: HOME,
  });
  const traverse = p.grants.filter((g) => g.reason === 'profile-traverse');
  assert.deepEqual(
    traverse.map((g) => [g.path, g.createIfMissing ?? '-']),
    [
      [HOME, '-'],
      [`${HOME}\\AppData`, '-'],
      [`${HOME}\\AppData\\Local`, '-'],
      [`${HOME}\\AppData\\Local\\Programs`, '-'],
      [`${HOME}\\src`, '-'],
      [`${HOME}\\AppData\\Local\\AgentSandbox`, 'dir'],
      [`${HOME}\\AppData\\Local\\AgentSandbox\\tmp`, 'dir'],
    ],
  );
  for (const g of traverse) {
    assert.deepEqual(g.mask, TRAVERSE_MASK);
    assert.equal(g.inheritance.value, 0);
  }
  // The profile root is still refused as a runtime grant (read+execute, inherited): only the traverse ACE lands there.
  assert.deepEqual(
    p.refused.map((r) => r.path),
    [HOME],
  );
  // The payload carries them to the elevated process unchanged.
  const req = decodeRequest(
    encodeRequest({
      version: 1,
      action: 'setup',
      pipe: '\\\\.\\pipe\\agent-sandbox-x',
      nonce: '0'.repeat(32),
      stateDir: 's',
      home: HOME,
      grants: p.grants,
    }),
  );
  assert.deepEqual(req.grants, p.grants);
});

test('payload: a profile-traverse grant that is inheritable or grants more than traverse is rejected; only it may create folders', () => {
  const grant = {
    path: HOME,
    sid: 'sandbox-group' as const,
    mask: TRAVERSE_MASK,
    inheritance: TRAVERSE_INHERITANCE,
    reason: 'profile-traverse' as const,
  };
  const req = (g: object) => ({
    version: 1 as const,
    action: 'setup' as const,
    pipe: '\\\\.\\pipe\\agent-sandbox-x',
    nonce: '0'.repeat(32),
    stateDir: 's',
    home: HOME,
    grants: [g as typeof grant],
  });
  assert.doesNotThrow(() => encodeRequest(req(grant)));
  assert.throws(() => encodeRequest(req({ ...grant, inheritance: { value: 3, names: [] } })));
  assert.throws(() => encodeRequest(req({ ...grant, mask: { value: TRAVERSE_MASK.value | 1, names: [] } })));
  assert.throws(() => encodeRequest(req({ ...grant, reason: 'writable-root', createIfMissing: 'dir' })));
});

const traverseOp = (p: string, extra: Partial<ResolvedAclOp> = {}): ResolvedAclOp => ({
  path: p,
  sid: GROUP,
  action: 'grant',
  mask: TRAVERSE_MASK.value,
  inheritance: 0,
  reason: 'elevated-profile-traverse',
  inPlace: true,
  ...extra,
});

test('ledger: the traverse ACE on the profile root is written in place and recorded; a second run writes nothing; revert removes it in place', () => {
  const store = new MemoryStore([HOME, `${HOME}\\src`]);
  const ledger = emptyLedger();
  const ops = [traverseOp(HOME), traverseOp(`${HOME}\\src`)];
  const first = applyOperations(ops, store, ledger, HOME);
  assert.deepEqual(first.failures, []);
  assert.deepEqual(store.inPlaceWrites, [HOME, `${HOME}\\src`], 'no propagating write');
  assert.equal(store.writes, 2);
  assert.deepEqual(
    ledger.records.map((r) => [r.path, r.sid, r.mask, r.inheritance, r.inPlace]),
    ops.map((o) => [o.path, GROUP, TRAVERSE_MASK.value, 0, true]),
  );
  assert.deepEqual(store.entries(HOME), [{ sid: GROUP, mode: 'grant', mask: TRAVERSE_MASK.value, inheritance: 0 }]);

  const second = applyOperations(ops, store, ledger, HOME);
  assert.equal(store.writes, 2, 'the second run makes zero writes');
  assert.equal(second.skipped.length, 2);
  assert.equal(ledger.records.length, 2, 'nothing recorded twice');

  const reverted = revertLedger(ledger, store);
  assert.equal(reverted.reverted.length, 2);
  assert.deepEqual(store.entries(HOME), []);
  assert.deepEqual(store.entries(`${HOME}\\src`), []);
  assert.equal(store.inPlaceWrites.length, 4, 'the revert is in place too');
  assert.equal(ledger.records.length, 0);
});

test('ledger: the profile-root exception holds only for a traverse-only, non-inheriting ACE written in place', () => {
  const cases: [string, Partial<ResolvedAclOp>][] = [
    ['not in place', { inPlace: undefined }],
    ['inheritable', { inheritance: 3 }],
    ['lists the folder', { mask: TRAVERSE_MASK.value | 0x1 }],
    ['a deny', { action: 'deny' }],
  ];
  for (const [what, extra] of cases) {
    const store = new MemoryStore([HOME]);
    const ledger = emptyLedger();
    const r = applyOperations([traverseOp(HOME, extra)], store, ledger, HOME);
    assert.equal(r.failures.length, 1, what);
    assert.equal(store.writes, 0, what);
    assert.equal(ledger.records.length, 0, what);
  }
  // NTUSER.DAT stays untouchable even for a traverse ACE.
  const store = new MemoryStore([`${HOME}\\NTUSER.DAT`]);
  assert.equal(applyOperations([traverseOp(`${HOME}\\NTUSER.DAT`)], store, emptyLedger(), HOME).failures.length, 1);
});

test('ledger: a store that cannot write in place fails the traverse ACE (never falls back to a propagating write)', () => {
  const plain = new MemoryStore([HOME]);
  (plain as { applyInPlace?: unknown }).applyInPlace = undefined;
  const ledger = emptyLedger();
  const r = applyOperations([traverseOp(HOME)], plain, ledger, HOME);
  assert.equal(r.failures.length, 1);
  assert.match(String(r.failures[0].error), /without propagating/);
  assert.equal(plain.writes, 0);
  assert.equal(ledger.records.length, 0);
});

test('ledger: a missing folder above the temp is created for its traverse ACE, and revert deletes it again while empty', () => {
  const store = new MemoryStore([HOME, `${HOME}\\AppData`]);
  const ledger = emptyLedger();
  const tmp = `${HOME}\\AppData\\AgentSandbox\\tmp`;
  applyOperations(
    [
      traverseOp(`${HOME}\\AppData\\AgentSandbox`, { createIfMissing: 'dir' }),
      traverseOp(tmp, { createIfMissing: 'dir' }),
    ],
    store,
    ledger,
    HOME,
  );
  assert.equal(store.kind(tmp), 'dir');
  const r = revertLedger(ledger, store);
  assert.deepEqual(r.removed.sort(), [`${HOME}\\AppData\\AgentSandbox`, tmp].sort());
  assert.equal(store.kind(`${HOME}\\AppData\\AgentSandbox`), 'missing');
});

test('ledger: an in-place ACE is recorded and saved before it is written; a crash right after the write leaves it for uninstall', () => {
  const store = new MemoryStore([HOME]);
  const ledger = emptyLedger();
  const saved: string[] = [];
  // The store "crashes" after writing: the record saved before the write is all that reaches disk.
  const crashing = new MemoryStore([HOME]);
  crashing.applyInPlace = (p, aces) => {
    MemoryStore.prototype.applyInPlace.call(crashing, p, aces);
    crashing.applyInPlace = MemoryStore.prototype.applyInPlace;
    throw new Error('process killed');
  };
  applyOperations([traverseOp(HOME)], crashing, ledger, HOME, undefined, () => saved.push(JSON.stringify(ledger)));
  assert.equal(saved.length, 1, 'saved once, before the write');
  const onDisk = JSON.parse(saved[0]) as ReturnType<typeof emptyLedger>;
  assert.deepEqual(
    onDisk.records.map((r) => [r.path, r.sid, r.inPlace, r.incomplete]),
    [[HOME, GROUP, true, true]],
  );
  assert.equal(crashing.entries(HOME).length, 1, 'the ACE landed');
  // Uninstall with what was saved reverts it.
  const r = revertLedger(onDisk, crashing);
  assert.equal(r.reverted.length, 1);
  assert.deepEqual(crashing.entries(HOME), []);

  // A normal run: the record is complete afterwards, with the DACL it replaced.
  applyOperations([traverseOp(HOME)], store, ledger, HOME, undefined, () => undefined);
  assert.equal(ledger.records.length, 1);
  assert.equal(ledger.records[0].incomplete, undefined);
  assert.equal(ledger.records[0].before, '[]');
});

test('ledger: an in-place write that fails without landing drops its early record (nothing to revert)', () => {
  const store = new MemoryStore([HOME]);
  store.failOn.set(HOME.toLowerCase(), () => new Error('access denied'));
  const ledger = emptyLedger();
  let saves = 0;
  const r = applyOperations([traverseOp(HOME)], store, ledger, HOME, undefined, () => saves++);
  assert.equal(r.failures.length, 1);
  assert.equal(saves, 1);
  assert.deepEqual(ledger.records, []);
});
