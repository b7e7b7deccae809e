// Unit: the Windows guard's decision and re-apply over the in-memory store, after a real preparation into a real
// ledger file. Nothing changed: zero ACL writes. The host replaces one protected file (a rename onto it: new file
// ID, no deny): exactly that path is written again, recorded in the ledger before the write, and reported. A deny
// lost without a replacement is written again; a removed protected path is not re-created (a host tool's rename
// onto it would fail) but is re-protected when it comes back; a failed re-apply, or one that does not read back,
// is reported as a failure (the caller stops the command), except under Wine where it is a note and never loops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import nodeFs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LEDGER_FILE,
  prepare,
  reapplyProtections,
  resolveAclOps,
  type Identity,
} from '../../src/sandbox/windows/prepare';
import { AclGuard, decide, guardedOps, guardFolders, type Seen } from '../../src/sandbox/windows/guard';
import { loadLedger, type Ace } from '../../src/sandbox/windows/ledger';
import { Win32Error } from '../../native-bindings/win32/errors';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';
import { MemoryStore } from './win32-memory-store';

const CAP = 'S-1-5-21-1-2-3-4';
const id: Identity = { userSid: 'S-1-5-21-9-9-9-1000', logonSid: 'S-1-5-5-0-1', capabilities: { 'c:\\ws': CAP } };
const CONFIG = 'C:\\ws\\.git\\config';

async function prepared() {
  const plan = compilePlan(
    { workspaceRoots: ['C:\\ws'] },
    {
      platform: 'win32',
      home: 'C:\\Users\\me',
      userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
      env: {},
      stateDir: 'C:\\state',
    },
  ) as Win32Plan;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-guard-'));
  const store = new MemoryStore(['C:\\ws', 'C:\\ws\\.git', CONFIG, 'C:\\ws\\.envrc', plan.tempDir]);
  store.files.add(CONFIG.toLowerCase());
  store.files.add('c:\\ws\\.envrc');
  const opts = { stateDir, home: 'C:\\Users\\me' };
  await prepare(plan, id, store, { ...opts, env: {} });
  const ops = guardedOps(resolveAclOps(plan, id));
  store.writes = 0;
  store.writtenPaths = [];
  return { store, ops, stateDir, reapply: (o: typeof ops) => reapplyProtections(o, store, opts) };
}

const denied = (store: MemoryStore, p: string) => store.entries(p).some((e: Ace) => e.sid === CAP && e.mode === 'deny');

test('guarded: the protected paths denies only, never created while a command runs; their folders are watched', async () => {
  const { ops } = await prepared();
  assert.ok(ops.length > 0);
  assert.ok(ops.every((o) => o.action === 'deny' && o.reason === 'protected-path'));
  assert.ok(ops.every((o) => o.createIfMissing === undefined && o.placeholderContent === undefined));
  assert.ok(ops.some((o) => o.path === CONFIG));
  const folders = guardFolders(ops).map((f) => f.toLowerCase());
  assert.ok(folders.includes('c:\\ws\\.git') && folders.includes('c:\\ws'));
  assert.equal(new Set(folders).size, folders.length);
});

test('nothing changed: zero ACL writes, however often the guard checks', async () => {
  const { store, ops, reapply } = await prepared();
  const guard = new AclGuard(ops, store, reapply, { pollOnly: true, pollMs: 60_000 });
  await guard.check();
  await guard.check();
  guard.close();
  assert.equal(store.writes, 0);
  assert.deepEqual(guard.notes, []);
});

test('the host renames a file onto .git\\config: exactly that path is written again, recorded first, and reported', async () => {
  const { store, ops, stateDir, reapply } = await prepared();
  const file = path.join(stateDir, LEDGER_FILE);
  const recordsBefore = loadLedger(file).records.length;
  const guard = new AclGuard(ops, store, reapply, { pollOnly: true, pollMs: 60_000 });
  await guard.check();
  const notes: string[] = [];
  guard.onReapplied = (n) => notes.push(n);
  let failure: string | undefined;
  guard.onFailure = (r) => (failure = r);
  // The record must be on disk when the DACL is written (the ledger's rule): checked inside the write.
  let recordedAtWrite = false;
  const apply = store.apply.bind(store);
  store.apply = (p, aces) => {
    recordedAtWrite = loadLedger(file).records.length > recordsBefore;
    return apply(p, aces);
  };
  store.replace(CONFIG);
  assert.equal(denied(store, CONFIG), false, 'the replacement carries no deny');
  await guard.check();
  guard.close();
  assert.deepEqual(store.writtenPaths, [CONFIG]);
  assert.ok(denied(store, CONFIG));
  assert.ok(recordedAtWrite, 'recorded before it was written');
  assert.equal(failure, undefined);
  assert.equal(notes.length, 1);
  assert.match(notes[0], /\.git\\config/);
  assert.match(notes[0], /replaced/);
  assert.deepEqual(guard.notes, notes);
  const recs = loadLedger(file).records.filter((r) => r.path === CONFIG && r.action === 'deny');
  assert.ok(recs.length >= 1 && recs.every((r) => !r.incomplete));
});

test('a deny lost without a replacement (same file ID) is written again; a second check writes nothing', async () => {
  const { store, ops, reapply } = await prepared();
  const seen = new Map<string, Seen>();
  assert.deepEqual(decide(ops, store, seen).reapply, []);
  store.dacls.set('c:\\ws\\.envrc', []);
  const d = decide(ops, store, seen);
  assert.deepEqual(
    d.reapply.map((o) => o.path),
    ['C:\\ws\\.envrc'],
  );
  assert.deepEqual(d.replaced, []);
  assert.deepEqual(await reapply(d.reapply), []);
  assert.deepEqual(store.writtenPaths, ['C:\\ws\\.envrc']);
  assert.deepEqual(decide(ops, store, seen).reapply, []);
});

test('a removed protected path is not re-created; when the host puts it back it is protected again', async () => {
  const { store, ops, reapply } = await prepared();
  const guard = new AclGuard(ops, store, reapply, { pollOnly: true, pollMs: 60_000 });
  await guard.check();
  store.dacls.delete('c:\\ws\\.envrc');
  await guard.check();
  assert.equal(store.kind('C:\\ws\\.envrc'), 'missing', 'not re-created');
  assert.equal(store.writes, 0);
  store.replace('C:\\ws\\.envrc');
  await guard.check();
  guard.close();
  assert.deepEqual(store.writtenPaths, ['C:\\ws\\.envrc']);
  assert.ok(denied(store, 'C:\\ws\\.envrc'));
});

test('a re-apply that fails is reported as a failure naming the path (the caller stops the command)', async () => {
  const { store, ops, reapply } = await prepared();
  const guard = new AclGuard(ops, store, reapply, { pollOnly: true, pollMs: 60_000 });
  await guard.check();
  let failure: string | undefined;
  guard.onFailure = (r) => (failure = r);
  store.replace(CONFIG);
  store.failOn.set(CONFIG.toLowerCase(), () => new Win32Error('SetNamedSecurityInfoW', 5));
  await guard.check();
  guard.close();
  assert.match(failure ?? '', /\.git\\config/);
  assert.equal(guard.failed, failure);
});

test('a deny that does not read back fails (Windows); under Wine it is a note and is not written again in a loop', async () => {
  for (const wine of [false, true]) {
    const { store, ops, reapply } = await prepared();
    const guard = new AclGuard(ops, store, reapply, { pollOnly: true, pollMs: 60_000, tolerateUnstoredAcls: wine });
    await guard.check();
    store.dropWrites = true;
    store.replace(CONFIG);
    await guard.check();
    assert.equal(store.writes, 1);
    if (wine) {
      assert.equal(guard.failed, undefined);
      assert.match(guard.notes[0], /Wine stores no ACLs/);
    } else assert.match(guard.failed ?? '', /did not read back/);
    await guard.check();
    await guard.check();
    guard.close();
    assert.equal(store.writes, 1, 'no second write while nothing changes');
  }
});

test('events during a check are not lost: a replacement made while a re-apply runs is re-applied too', async () => {
  const { store, ops, reapply } = await prepared();
  const guard = new AclGuard(
    ops,
    store,
    async (o) => {
      const r = await reapply(o);
      if (o.some((x) => x.path === CONFIG)) {
        store.replace('C:\\ws\\.envrc');
        void guard.check();
      }
      return r;
    },
    { pollOnly: true, pollMs: 60_000 },
  );
  await guard.check();
  store.replace(CONFIG);
  await guard.check();
  guard.close();
  assert.deepEqual(store.writtenPaths, [CONFIG, 'C:\\ws\\.envrc']);
});

test('an event naming only config.lock reads no DACL on config (git is about to rename onto it); one naming config does', async () => {
  const { store, ops, reapply } = await prepared();
  const guard = new AclGuard(ops, store, reapply, { pollOnly: true, pollMs: 60_000 });
  await guard.check();
  const reads: string[] = [];
  const entries = store.entries.bind(store);
  store.entries = (p) => {
    reads.push(p);
    return entries(p);
  };
  store.dacls.set(CONFIG.toLowerCase(), []); // its deny lost, same file: only a read of its DACL can tell
  await guard.check(`${CONFIG}.lock`);
  assert.deepEqual(reads, []);
  assert.equal(store.writes, 0);
  await guard.check(CONFIG);
  guard.close();
  assert.ok(reads.length > 0 && reads.every((p) => p === CONFIG));
  assert.deepEqual(store.writtenPaths, [CONFIG]);
});

test('a watch that fails later (its folder moved or deleted) leaves the guard polling, not blind: a replacement after it is re-applied', async () => {
  const { store, ops, reapply } = await prepared();
  const watchers: EventEmitter[] = [];
  const watch = nodeFs.watch;
  (nodeFs as { watch: unknown }).watch = () => {
    const w = Object.assign(new EventEmitter(), { close: () => undefined });
    watchers.push(w);
    return w;
  };
  let guard: AclGuard;
  try {
    guard = new AclGuard(ops, store, reapply, { pollMs: 20 });
  } finally {
    (nodeFs as { watch: unknown }).watch = watch;
  }
  await guard.check();
  assert.ok(watchers.length > 0, 'every folder was watched');
  for (const w of watchers) w.emit('error', new Error('the folder went away (test)'));
  await guard.check(); // the check each error asks for is over before the host's replacement
  store.replace(CONFIG);
  await new Promise((r) => setTimeout(r, 200));
  guard.close();
  assert.ok(denied(store, CONFIG), 'the replacement was seen by the poll and protected again');
});
