// Unit: incremental ACLs over the in-memory store with counters. A prepared workspace costs zero ACL writes on the
// next preparation (a new session), and its reads are bounded by the roots and protected paths: the same with 10
// files as with 10,000 (no tree walk). A policy change writes only the difference. Timing on a real NTFS tree is
// the bench's job on Windows, not this test's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepare, type Identity } from '../../src/sandbox/windows/prepare';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';
import { MemoryStore } from './win32-memory-store';

const id: Identity = {
  userSid: 'S-1-5-21-9-9-9-1000',
  logonSid: 'S-1-5-5-0-1',
  capabilities: { 'c:\\ws': 'S-1-5-21-1-2-3-4' },
};

class CountingStore extends MemoryStore {
  reads = 0;
  readPaths = new Set<string>();
  override kind(p: string) {
    this.reads++;
    this.readPaths.add(p.toLowerCase());
    return super.kind(p);
  }
  override entries(p: string) {
    this.reads++;
    this.readPaths.add(p.toLowerCase());
    return super.entries(p);
  }
}

function planFor(policy: object = {}): Win32Plan {
  return compilePlan(
    { workspaceRoots: ['C:\\ws'], ...policy },
    {
      platform: 'win32',
      home: 'C:\\Users\\me',
      userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
      env: {},
      stateDir: 'C:\\state',
    },
  ) as Win32Plan;
}

function workspace(files: number, plan: Win32Plan): CountingStore {
  const store = new CountingStore(['C:\\ws', 'C:\\ws\\.git', 'C:\\ws\\.git\\hooks', 'C:\\ws\\.vscode', plan.tempDir]);
  for (let i = 0; i < files; i++) store.create(`C:\\ws\\src\\f${i}.ts`, 'file');
  return store;
}

async function twice(files: number, plan = planFor()) {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-incr-'));
  const opts = { stateDir, home: 'C:\\Users\\me', env: {} };
  const store = workspace(files, plan);
  await prepare(plan, id, store, opts);
  const first = { writes: store.writes, reads: store.reads };
  store.writes = 0;
  store.reads = 0;
  store.readPaths.clear();
  await prepare(plan, id, store, opts);
  return { first, second: { writes: store.writes, reads: store.reads, paths: [...store.readPaths] }, store, opts };
}

test('a prepared workspace: the next preparation makes zero ACL writes', async () => {
  const { first, second } = await twice(10);
  assert.ok(first.writes > 0, 'the first preparation does write');
  assert.equal(second.writes, 0);
});

test('reads on a prepared workspace are bounded by roots and protected paths: 10 files and 10,000 files read the same', async () => {
  const small = await twice(10);
  const big = await twice(10_000);
  assert.equal(big.second.reads, small.second.reads);
  assert.ok(!big.second.paths.some((p) => p.startsWith('c:\\ws\\src\\')), 'no file below the root is read');
});

test('a policy change writes only the difference: one more protected path = one deny (plus its placeholder), nothing re-granted', async () => {
  const { store, opts } = await twice(100);
  const before = new Map([...store.dacls].map(([k, v]) => [k, JSON.stringify(v)]));
  store.writes = 0;
  await prepare(planFor({ protectedPaths: ['secrets/**'] }), id, store, opts);
  const changed = [...store.dacls].filter(([k, v]) => before.get(k) !== JSON.stringify(v)).map(([k]) => k);
  assert.deepEqual(changed, ['c:\\ws\\secrets']);
  assert.equal(store.writes, 1);
});
