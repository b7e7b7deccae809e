// Unit: every ACE (and every placeholder made for one) is in the saved ledger before it is written or created, so
// a crash at any point is completed by the next run or reverted by uninstall, over the in-memory store. A crash is
// modelled as what survives it: the ledger as last saved and the store as it was at that moment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  alreadyPresent,
  applyOperations,
  applyOperationsYielding,
  emptyLedger,
  grantComplete,
  revertLedger,
  type Ace,
  type Ledger,
  type ResolvedAclOp,
  type SecurityStore,
} from '../../src/sandbox/windows/ledger';
import { MemoryStore } from './win32-memory-store';

const CAP = 'S-1-5-21-1-2-3-4';
const HOME = 'C:\\Users\\me';
const grant: ResolvedAclOp = {
  path: 'C:\\ws',
  sid: CAP,
  action: 'grant',
  mask: 0x1301bf,
  inheritance: 3,
  reason: 'writable-root',
};
const deny: ResolvedAclOp = {
  path: 'C:\\ws\\.git\\hooks',
  sid: CAP,
  action: 'deny',
  mask: 0x40116,
  inheritance: 3,
  reason: 'protected-path',
};
const placeholder: ResolvedAclOp = {
  path: 'C:\\ws\\.vscode\\settings.json',
  sid: CAP,
  action: 'deny',
  mask: 0x40116,
  inheritance: 0,
  reason: 'protected-path',
  createIfMissing: 'file',
};
const OPS = [grant, deny, placeholder];
const START = ['C:\\ws', 'C:\\ws\\.git', 'C:\\ws\\.git\\hooks'];

type Moment = { when: 'create' | 'before-write' | 'after-write'; path: string };
interface Crash {
  ledger: Ledger;
  store: MemoryStore;
}

/** A store that reports each creation and write (before and after it) to `at`. */
class WatchedStore extends MemoryStore {
  at: (m: Moment) => void = () => undefined;
  override create(p: string, kind: 'dir' | 'file', content?: string) {
    this.at({ when: 'create', path: p });
    return super.create(p, kind, content);
  }
  override apply(p: string, aces: Ace[]) {
    this.at({ when: 'before-write', path: p });
    const before = super.apply(p, aces);
    this.at({ when: 'after-write', path: p });
    return before;
  }
}

function clone(s: MemoryStore): MemoryStore {
  const c = new MemoryStore([]);
  for (const [k, v] of s.dacls)
    c.dacls.set(
      k,
      v.map((a) => ({ ...a })),
    );
  for (const f of s.files) c.files.add(f);
  for (const [k, v] of s.contents) c.contents.set(k, v);
  return c;
}

/** Runs OPS, saving the ledger through `persist`, and returns what survives a crash at `moment`. */
function crashAt(moment: Moment, saveLedger = true): Crash {
  const store = new WatchedStore(START);
  const ledger = emptyLedger();
  let onDisk = JSON.stringify(emptyLedger());
  let crash: Crash | undefined;
  store.at = (m) => {
    if (!crash && m.when === moment.when && m.path === moment.path)
      crash = { ledger: JSON.parse(onDisk) as Ledger, store: clone(store) };
  };
  const persist = saveLedger ? () => (onDisk = JSON.stringify(ledger)) : undefined;
  applyOperations(OPS, store, ledger, HOME, undefined, persist);
  assert.ok(crash, `the run reached ${moment.when} ${moment.path}`);
  return crash;
}

/** Our SID's explicit ACEs left anywhere, and paths that were not there before. */
function traces(s: MemoryStore): string[] {
  const out: string[] = [];
  for (const [p, aces] of s.dacls) {
    if (aces.some((a) => a.sid === CAP)) out.push(`ACE on ${p}`);
    if (!START.some((x) => x.toLowerCase() === p)) out.push(`created ${p}`);
  }
  return out;
}

const MOMENTS: Moment[] = [
  { when: 'before-write', path: grant.path },
  { when: 'after-write', path: grant.path },
  { when: 'before-write', path: deny.path },
  { when: 'after-write', path: deny.path },
  { when: 'create', path: placeholder.path },
  { when: 'before-write', path: placeholder.path },
  { when: 'after-write', path: placeholder.path },
];

for (const m of MOMENTS) {
  const name = `${m.when} ${m.path}`;
  test(`ledger crash ${name}: the ACE in flight is already recorded (incomplete), and uninstall leaves no trace`, () => {
    const c = crashAt(m);
    const rec = c.ledger.records.find((r) => r.path === m.path);
    assert.ok(rec, 'recorded before the write or creation');
    assert.equal(rec.incomplete, true, 'marked incomplete until the write completes');
    const r = revertLedger(c.ledger, c.store);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(traces(c.store), [], 'nothing of ours left');
    assert.deepEqual(c.ledger.records, []);
  });

  test(`ledger crash ${name}: the next run completes it (written again, never taken as done), then reverts cleanly`, () => {
    const c = crashAt(m);
    const inFlight = c.ledger.records.find((r) => r.path === m.path)!;
    const writesBefore = c.store.writes;
    const r = applyOperations(OPS, c.store, c.ledger, HOME, undefined, () => undefined);
    assert.deepEqual(r.failures, []);
    assert.ok(
      r.applied.some((a) => a.path === inFlight.path),
      'the ACE in flight is written again, even where it landed (its propagation may be half-done)',
    );
    assert.ok(c.store.writes > writesBefore);
    assert.ok(!c.ledger.records.some((x) => x.incomplete), 'every record complete');
    assert.equal(c.ledger.records.length, OPS.length, 'one record per ACE, none doubled');
    for (const op of OPS) assert.ok(c.store.entries(op.path).some((a) => a.sid === CAP && a.mode === op.action));
    assert.deepEqual(revertLedger(c.ledger, c.store).failures, []);
    assert.deepEqual(traces(c.store), []);
  });
}

test('ledger crash (control): with the ledger saved only after the writes, the same crash leaves an ACE nothing reverts', () => {
  // The harness can fail: what survives a crash after the write, had nothing been saved before it.
  const c = crashAt({ when: 'after-write', path: deny.path }, false);
  revertLedger(c.ledger, c.store);
  assert.ok(traces(c.store).includes('ACE on c:\\ws\\.git\\hooks'), traces(c.store).join(', '));
});

test('ledger crash: a write that fails without landing takes back its fresh record and placeholder; a complete run leaves none incomplete', () => {
  const store = new MemoryStore(START);
  store.failOn.set('c:\\ws\\.vscode\\settings.json', () => new Error('access denied'));
  const ledger = emptyLedger();
  const r = applyOperations(OPS, store, ledger, HOME, undefined, () => undefined);
  assert.equal(r.failures.length, 1);
  assert.deepEqual(
    ledger.records.map((x) => [x.path, x.incomplete]),
    [
      [grant.path, undefined],
      [deny.path, undefined],
    ],
  );
  assert.equal(store.kind(placeholder.path), 'missing', 'the placeholder went with its record');
  assert.equal(store.kind('C:\\ws\\.vscode'), 'missing');
});

test('ledger crash: the yielding apply saves each record before its (off-loop) write', async () => {
  const store: MemoryStore & Pick<SecurityStore, 'applyAsync'> = new MemoryStore(START);
  const ledger = emptyLedger();
  let onDisk = emptyLedger();
  const seen: string[] = [];
  store.applyAsync = async (p, aces) => {
    const rec = onDisk.records.find((r) => r.path.toLowerCase() === p.toLowerCase());
    seen.push(`${p}:${rec?.incomplete === true}`);
    return store.apply(p, aces);
  };
  await applyOperationsYielding([grant, deny], store, ledger, HOME, {
    onRecorded: () => (onDisk = JSON.parse(JSON.stringify(ledger)) as Ledger),
  });
  assert.deepEqual(seen, [`${grant.path}:true`, `${deny.path}:true`]);
  assert.ok(!ledger.records.some((r) => r.incomplete));
});

test("ledger crash: a grant that crashed after its write is not complete for setup's check (written again), once rewritten it is", () => {
  const c = crashAt({ when: 'after-write', path: grant.path });
  const entries = c.store.entries(grant.path);
  // Control: the ACE is on the folder, so the old "present = done" check would skip it for good.
  assert.equal(alreadyPresent(entries, grant), true);
  assert.equal(
    grantComplete(entries, c.ledger, grant),
    false,
    'setup must write it again (its propagation may be half-done)',
  );
  applyOperations([grant], c.store, c.ledger, HOME, undefined, () => undefined);
  assert.equal(grantComplete(c.store.entries(grant.path), c.ledger, grant), true);
});
