// Unit: the unelevated preparation step over an in-memory store: per-root grant failures become warnings naming
// the folder and the fix, a failed deny fails closed, ACEs that do not read back fail closed (Wine excepted, with
// a warning), SIDs resolve symbolically, the ledger file is written and reverted, and preparation yields between
// operations and can be cancelled (what was applied stays recorded; a rerun resumes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  auditOps,
  LEDGER_FILE,
  prepare,
  resolveSid,
  revertAcls,
  revertStale,
  type Identity,
} from '../../src/sandbox/windows/prepare';
import { SandboxError, SandboxErrorCode } from '../../src/errors';
import { Win32Error } from '../../native-bindings/win32/errors';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';
import { MemoryStore } from './win32-memory-store';

const CAP = 'S-1-5-21-1-2-3-4';
const id: Identity = { userSid: 'S-1-5-21-9-9-9-1000', logonSid: 'S-1-5-5-0-1', capabilities: { 'c:\\ws': CAP } };

function setup(extra: string[] = [], policy: object = {}) {
  const plan = compilePlan(
    { workspaceRoots: ['C:\\ws'], writableRoots: extra, ...policy },
    {
      platform: 'win32',
      home: 'C:\\Users\\me',
      userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
      env: {},
      stateDir: 'C:\\state',
    },
  ) as Win32Plan;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-prep-'));
  return { plan, stateDir, opts: { stateDir, home: 'C:\\Users\\me', env: {} } };
}

test('SIDs resolve: capability from the identity, logon, current user, literal; sandbox users need setup', () => {
  assert.equal(resolveSid({ kind: 'capability', root: 'C:\\WS' }, id), CAP);
  assert.equal(resolveSid({ kind: 'capability', root: 'C:\\x', sid: 'S-1-5-21-5-5-5-5' }, id), 'S-1-5-21-5-5-5-5');
  assert.equal(resolveSid({ kind: 'logon' }, id), id.logonSid);
  assert.equal(resolveSid({ kind: 'current-user' }, id), id.userSid);
  assert.equal(resolveSid({ kind: 'literal', sid: 'S-1-1-0', name: 'Everyone' }, id), 'S-1-1-0');
  assert.throws(
    () => resolveSid({ kind: 'sandbox-group' }, id),
    (e: unknown) => e instanceof SandboxError && e.code === SandboxErrorCode.SetupRequired,
  );
});

test('a root owned by someone else (error 5) becomes a warning naming it and the fix; the other root is granted', async () => {
  const { plan, opts } = setup(['C:\\theirs']);
  const store = new MemoryStore(['C:\\ws', 'C:\\theirs', plan.tempDir]);
  store.failOn.set('c:\\theirs', () => new Win32Error('SetNamedSecurityInfoW', 5));
  const r = await prepare(plan, id, store, opts);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0], /C:\\theirs/);
  assert.match(r.warnings[0], /owned by another account/);
  assert.ok(store.entries('C:\\ws').some((e) => e.sid === CAP && e.mode === 'grant'));
});

test('a protected path that cannot be denied fails closed with acl-access-denied', async () => {
  const { plan, opts } = setup();
  const store = new MemoryStore(['C:\\ws', 'C:\\ws\\.vscode', plan.tempDir]);
  store.failOn.set('c:\\ws\\.vscode', () => new Win32Error('SetNamedSecurityInfoW', 5));
  await assert.rejects(
    prepare(plan, id, store, opts),
    (e: unknown) =>
      e instanceof SandboxError && e.code === SandboxErrorCode.AclAccessDenied && /\.vscode/.test(e.message),
  );
});

test('ACEs that do not read back fail closed, except under Wine where they become an explicit warning', async () => {
  const { plan, opts } = setup();
  const store = new MemoryStore(['C:\\ws', plan.tempDir]);
  store.dropWrites = true;
  await assert.rejects(
    prepare(plan, id, store, opts),
    (e: unknown) => e instanceof SandboxError && e.code === SandboxErrorCode.AclGrantFailed,
  );
  const wine = setup();
  const r = await prepare(wine.plan, id, store, { ...wine.opts, tolerateUnstoredAcls: true });
  assert.ok(r.warnings.some((w) => /NOT in effect/.test(w)));
});

test('the ledger file records what was applied and revertAcls removes it', async () => {
  const { plan, stateDir, opts } = setup();
  const store = new MemoryStore(['C:\\ws', plan.tempDir]);
  await prepare(plan, id, store, opts);
  const ledger = JSON.parse(fs.readFileSync(path.join(stateDir, LEDGER_FILE), 'utf8'));
  assert.ok(ledger.records.length >= 3);
  const r = revertAcls(stateDir, store);
  assert.equal(r.failures.length, 0);
  assert.deepEqual(store.entries('C:\\ws'), []);
  assert.equal(JSON.parse(fs.readFileSync(path.join(stateDir, LEDGER_FILE), 'utf8')).records.length, 0);
});

test('the audit denies world-writable folders for the capability SID and never the roots', () => {
  const { plan } = setup();
  const store = new MemoryStore(['C:\\ws', 'C:\\tools', 'C:\\']);
  store.apply('C:\\tools', [{ sid: 'S-1-1-0', mode: 'grant', mask: 0x2, inheritance: 3 }]);
  store.apply('C:\\ws', [{ sid: 'S-1-1-0', mode: 'grant', mask: 0x2, inheritance: 3 }]);
  const { ops } = auditOps({ ...plan, auditPaths: ['C:\\tools', 'C:\\ws'] }, id, store, { PATH: '' });
  assert.deepEqual(
    ops.map((o) => [o.path, o.sid, o.action, o.inheritance]),
    [['C:\\tools', CAP, 'deny', 3]],
  );
});

test('preparation reports progress per operation and yields to the event loop between operations', async () => {
  const { plan, opts } = setup();
  const store = new MemoryStore(['C:\\ws', plan.tempDir]);
  const reports: { done: number; total: number }[] = [];
  let reportsWhenLoopRan: number | undefined;
  await prepare(plan, id, store, {
    ...opts,
    onProgress: (p) => {
      reports.push(p);
      if (reports.length === 1) setImmediate(() => (reportsWhenLoopRan = reports.length));
    },
  });
  const total = reports[0].total;
  assert.ok(total >= 3, 'the plan has several operations');
  assert.deepEqual(
    reports.map((r) => r.done),
    Array.from({ length: total }, (_, i) => i + 1),
  );
  assert.equal(reportsWhenLoopRan, 1, 'a callback queued after the first operation ran before the second');
});

test('cancelling mid-way stops, keeps the applied ACEs in the ledger, throws cancelled; a rerun completes the rest', async () => {
  const { plan, stateDir, opts } = setup();
  const store = new MemoryStore(['C:\\ws', plan.tempDir]);
  const ac = new AbortController();
  let done = 0;
  let total = 0;
  await assert.rejects(
    prepare(plan, id, store, {
      ...opts,
      signal: ac.signal,
      onProgress: (p) => {
        done = p.done;
        total = p.total;
        if (p.done === 2) ac.abort();
      },
    }),
    (e: unknown) =>
      e instanceof SandboxError && e.code === SandboxErrorCode.Cancelled && /nothing was run/.test(e.message),
  );
  assert.equal(done, 2, 'no operation ran after the cancel');
  const partial = JSON.parse(fs.readFileSync(path.join(stateDir, LEDGER_FILE), 'utf8')).records as {
    path: string;
    sid: string;
  }[];
  assert.equal(partial.length, 2, 'both applied ACEs are recorded');
  for (const r of partial)
    assert.ok(
      store.entries(r.path).some((e) => e.sid === r.sid),
      `${r.path} holds the recorded ACE`,
    );
  const rerun: string[] = [];
  await prepare(plan, id, store, { ...opts, onProgress: (p) => rerun.push(p.message) });
  assert.equal(rerun.length, total);
  assert.equal(rerun.filter((m) => m.startsWith('Already set')).length, 2, 'the rerun skips what was applied');
  const all = JSON.parse(fs.readFileSync(path.join(stateDir, LEDGER_FILE), 'utf8')).records;
  assert.equal(all.length, total, 'every operation is recorded exactly once');
  assert.equal(revertAcls(stateDir, store).failures.length, 0);
  assert.deepEqual(store.entries('C:\\ws'), []);
});

test('an already-aborted signal applies nothing and writes no ledger', async () => {
  const { plan, stateDir, opts } = setup();
  const store = new MemoryStore(['C:\\ws', plan.tempDir]);
  await assert.rejects(
    prepare(plan, id, store, { ...opts, signal: AbortSignal.abort() }),
    (e: unknown) => e instanceof SandboxError && e.code === SandboxErrorCode.Cancelled,
  );
  assert.deepEqual(store.entries('C:\\ws'), []);
  assert.equal(fs.existsSync(path.join(stateDir, LEDGER_FILE)), false);
});

/** The same workspace prepared again under another policy, with the first run's ledger. */
function replan(first: { stateDir: string }, extra: string[] = [], policy: object = {}) {
  const next = setup(extra, policy);
  fs.rmSync(next.stateDir, { recursive: true, force: true });
  return { plan: next.plan, opts: { ...next.opts, stateDir: first.stateDir } };
}

const hasAce = (store: MemoryStore, p: string, mode: 'grant' | 'deny') =>
  store.entries(p).some((e) => e.sid === CAP && e.mode === mode);

test('a writable root removed from the policy loses its grant on the next run (narrowing takes effect)', async () => {
  const first = setup(['C:\\data']);
  const store = new MemoryStore(['C:\\ws', 'C:\\data', first.plan.tempDir]);
  await prepare(first.plan, id, store, first.opts);
  assert.ok(hasAce(store, 'C:\\data', 'grant'));
  const progress: string[] = [];
  const again = replan(first);
  const r = await prepare(again.plan, id, store, { ...again.opts, onProgress: (p) => progress.push(p.message) });
  assert.ok(!hasAce(store, 'C:\\data', 'grant'), 'C:\\data is no longer writable for the workspace');
  assert.ok(!r.warnings.some((w) => w.includes('C:\\data')), 'its protections are moot now, so no warning about them');
  assert.ok(hasAce(store, 'C:\\ws', 'grant'), 'the workspace itself keeps its grant');
  assert.ok(
    progress.some((m) => /Removed 1 permission/.test(m)),
    progress.join('\n'),
  );
  const ledger = JSON.parse(fs.readFileSync(path.join(first.stateDir, LEDGER_FILE), 'utf8'));
  assert.ok(!ledger.records.some((r: { path: string }) => r.path === 'C:\\data'), 'and the ledger forgot it');
});

test('a protected path dropped from the policy stays protected (another policy may need it) and says how to lift it', async () => {
  const first = setup();
  const store = new MemoryStore(['C:\\ws', first.plan.tempDir]);
  await prepare(first.plan, id, store, first.opts);
  assert.ok(hasAce(store, 'C:\\ws\\.vscode', 'deny'));
  const again = replan(first, [], { protectedPaths: ['.git/hooks/**', '.git/config'] });
  const r = await prepare(again.plan, id, store, again.opts);
  assert.ok(hasAce(store, 'C:\\ws\\.vscode', 'deny'), "never opened behind another policy's back");
  assert.ok(
    r.warnings.some((w) => w.includes('C:\\ws\\.vscode') && /Remove Sandbox Permissions From This Workspace/.test(w)),
    r.warnings.join('\n'),
  );
  // "remove this workspace", then the next run sets only what its policy asks for
  revertAcls(first.stateDir, store, (rec) => rec.sid === CAP);
  const after = await prepare(again.plan, id, store, again.opts);
  assert.equal(store.kind('C:\\ws\\.vscode'), 'missing', 'the empty placeholder went with it');
  assert.ok(hasAce(store, 'C:\\ws\\.git\\hooks', 'deny'), 'what is still protected is protected again');
  assert.deepEqual(after.warnings, []);
});

test('records of other SIDs, audit denies and temp grants are not touched by another plan', async () => {
  const first = setup();
  const store = new MemoryStore(['C:\\ws', 'C:\\other', first.plan.tempDir]);
  await prepare(first.plan, id, store, first.opts);
  const ledgerFile = path.join(first.stateDir, LEDGER_FILE);
  const ledger = JSON.parse(fs.readFileSync(ledgerFile, 'utf8'));
  const OTHER = 'S-1-5-21-7-7-7-7';
  store.apply('C:\\other', [{ sid: OTHER, mode: 'grant', mask: 0x2, inheritance: 3 }]);
  store.apply('C:\\other', [{ sid: CAP, mode: 'deny', mask: 0x2, inheritance: 3 }]);
  ledger.records.push(
    {
      path: 'C:\\other',
      sid: OTHER,
      action: 'grant',
      mask: 0x2,
      inheritance: 3,
      reason: 'writable-root',
      before: '',
      created: false,
      at: '',
    },
    {
      path: 'C:\\other',
      sid: CAP,
      action: 'deny',
      mask: 0x2,
      inheritance: 3,
      reason: 'world-writable-audit',
      before: '',
      created: false,
      at: '',
    },
  );
  fs.writeFileSync(ledgerFile, JSON.stringify(ledger));
  const again = replan(first);
  await prepare(again.plan, id, store, again.opts);
  assert.ok(store.entries('C:\\other').some((e) => e.sid === OTHER && e.mode === 'grant'));
  assert.ok(store.entries('C:\\other').some((e) => e.sid === CAP && e.mode === 'deny'));
  assert.equal(JSON.parse(fs.readFileSync(ledgerFile, 'utf8')).records.length, ledger.records.length);
});

test('a stale grant that cannot be removed fails closed and stays recorded', async () => {
  const first = setup(['C:\\data']);
  const store = new MemoryStore(['C:\\ws', 'C:\\data', first.plan.tempDir]);
  await prepare(first.plan, id, store, first.opts);
  store.failOn.set('c:\\data', () => new Win32Error('SetNamedSecurityInfoW', 5));
  const again = replan(first);
  await assert.rejects(
    prepare(again.plan, id, store, again.opts),
    (e: unknown) =>
      e instanceof SandboxError &&
      e.code === SandboxErrorCode.AclAccessDenied &&
      /C:\\data/.test(e.message) &&
      /icacls/.test(e.fix),
  );
  const ledger = JSON.parse(fs.readFileSync(path.join(first.stateDir, LEDGER_FILE), 'utf8'));
  assert.ok(
    ledger.records.some((r: { path: string }) => r.path === 'C:\\data'),
    'kept for uninstall to retry',
  );
  store.failOn.delete('c:\\data');
});

test('the elevated sandbox group is shared by all workspaces: its grant on another workspace is not stale', () => {
  const GROUP = 'S-1-5-21-8-8-8-1001';
  const store = new MemoryStore(['C:\\ws', 'C:\\other']);
  const grant = (p: string, sid: string) => ({
    path: p,
    sid,
    action: 'grant' as const,
    mask: 0x2,
    inheritance: 3,
    reason: 'writable-root',
  });
  store.apply('C:\\other', [{ sid: GROUP, mode: 'grant', mask: 0x2, inheritance: 3 }]);
  store.apply('C:\\other', [{ sid: CAP, mode: 'grant', mask: 0x2, inheritance: 3 }]);
  const ledger = {
    version: 1 as const,
    records: [
      { ...grant('C:\\other', GROUP), before: '', created: false, at: '' },
      { ...grant('C:\\other', CAP), before: '', created: false, at: '' },
    ],
  };
  const r = revertStale(ledger, [grant('C:\\ws', GROUP), grant('C:\\ws', CAP)], store, [CAP]);
  assert.deepEqual(
    r.reverted.map((x) => x.sid),
    [CAP],
    'only the capability grant on the dropped root goes',
  );
  assert.ok(store.entries('C:\\other').some((e) => e.sid === GROUP));
  assert.ok(!store.entries('C:\\other').some((e) => e.sid === CAP));
});

test('git init after a sealed .git: the next run lifts the seal (keeping the new repository) and protects its hooks', async () => {
  const store = new MemoryStore(['C:\\ws']);
  const fsOf = (st: MemoryStore) => ({ realpath: (x: string) => x, kind: (x: string) => st.kind(x) });
  const planFor = () =>
    compilePlan(
      { workspaceRoots: ['C:\\ws'] },
      {
        platform: 'win32',
        home: 'C:\\Users\\me',
        userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
        env: {},
        stateDir: 'C:\\state',
        fs: fsOf(store),
      },
    ) as Win32Plan;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-prep-'));
  const opts = { stateDir, home: 'C:\\Users\\me', env: {} };
  const sealed = planFor();
  store.create(sealed.tempDir, 'dir');
  await prepare(sealed, id, store, opts);
  assert.ok(store.entries('C:\\ws\\.git').some((e) => e.sid === CAP && e.mode === 'deny' && e.inheritance === 3));
  assert.equal(store.kind('C:\\ws\\.git\\hooks'), 'missing');
  // the user runs git init on the host
  store.create('C:\\ws\\.git\\HEAD', 'file', 'ref: refs/heads/main\n');
  store.nonEmpty.add('c:\\ws\\.git');
  const repo = planFor();
  await prepare(repo, id, store, opts);
  assert.ok(!store.entries('C:\\ws\\.git').some((e) => e.sid === CAP && e.inheritance === 3), 'the seal is gone');
  assert.equal(store.kind('C:\\ws\\.git\\HEAD'), 'file', 'the repository stays');
  assert.ok(store.entries('C:\\ws\\.git\\hooks').some((e) => e.sid === CAP && e.mode === 'deny'));
  assert.ok(
    store.entries('C:\\ws\\.git').some((e) => e.sid === CAP && e.mode === 'deny' && e.inheritance === 0),
    'pinned instead',
  );
});

/** A store whose DACL writes take a while off the event loop, as the Win32 one's do on koffi's worker thread. */
class SlowAsyncStore extends MemoryStore {
  inFlight = 0;
  asyncWrites = 0;
  applyAsync(p: string, aces: Parameters<MemoryStore['apply']>[1]): Promise<string> {
    this.inFlight++;
    return new Promise((resolve, reject) =>
      setTimeout(() => {
        this.inFlight--;
        this.asyncWrites++;
        try {
          resolve(this.apply(p, aces));
        } catch (e) {
          reject(e);
        }
      }, 15),
    );
  }
}

test('DACL writes run off the event loop: timers fire while a write is in flight, and cancel stops after it', async () => {
  const { plan, stateDir, opts } = setup();
  const store = new SlowAsyncStore(['C:\\ws', plan.tempDir]);
  let ticksDuringWrites = 0;
  const ticker = setInterval(() => {
    if (store.inFlight > 0) ticksDuringWrites++;
  }, 2);
  const cancel = new AbortController();
  try {
    await assert.rejects(
      prepare(plan, id, store, {
        ...opts,
        signal: cancel.signal,
        onProgress: (p) => {
          if (p.done === 2) cancel.abort();
        },
      }),
      (e: unknown) => e instanceof SandboxError && e.code === SandboxErrorCode.Cancelled,
    );
  } finally {
    clearInterval(ticker);
  }
  assert.equal(store.asyncWrites, 2, 'the write in flight when cancel came finished and nothing started after it');
  assert.ok(ticksDuringWrites > 0, 'the event loop ran while writes were in flight');
  const ledger = JSON.parse(fs.readFileSync(path.join(stateDir, LEDGER_FILE), 'utf8'));
  assert.equal(ledger.records.length, 2, 'both writes are recorded');
  await prepare(plan, id, store, opts);
  assert.ok(store.asyncWrites > 2, 'the rerun completes the rest through the async path');
  assert.ok(hasAce(store, 'C:\\ws', 'grant'));
});

test('each ACE is in the ledger file before it is written, so a crash mid-way loses none', async () => {
  const { plan, stateDir, opts } = setup();
  const store = new MemoryStore(['C:\\ws', plan.tempDir]);
  const onDisk: number[] = [];
  await prepare(plan, id, store, {
    ...opts,
    onProgress: (p) => {
      // reported as each operation ends; its ACE was saved before it was written, with every earlier one
      if (p.done >= 2 && p.done <= 4)
        onDisk.push(JSON.parse(fs.readFileSync(path.join(stateDir, LEDGER_FILE), 'utf8')).records.length);
    },
  });
  assert.deepEqual(onDisk, [2, 3, 4]);
});

test('the audit lists a folder whose permissions cannot be read as not checked, never as safe', () => {
  const { plan } = setup();
  class Unreadable extends MemoryStore {
    override entries(p: string) {
      if (p.toLowerCase() === 'c:\\locked') throw new Error('GetNamedSecurityInfoW failed with error 5');
      return super.entries(p);
    }
  }
  const store = new Unreadable(['C:\\ws', 'C:\\locked', 'C:\\']);
  const { ops, unscanned } = auditOps({ ...plan, auditPaths: ['C:\\locked'] }, id, store, { PATH: '' });
  assert.deepEqual(ops, []);
  assert.ok(unscanned.includes('C:\\locked'), unscanned.join(', '));
});
