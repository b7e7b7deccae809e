import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tryLock, withFileLock, withFileLockSync } from '../../src/file-lock';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'as-lock-'));

/** N node processes each add `per` distinct roots to one capability-SID file through capabilitySidsFor. */
async function race(dir: string, processes: number, per: number, locked: boolean): Promise<number> {
  const mod = path.resolve(__dirname, '../../src/sandbox/windows/capabilities.js');
  const lockMod = path.resolve(__dirname, '../../src/file-lock.js');
  const script = (i: number) => `
    const { capabilitySidsFor, CAPABILITY_FILE } = require(${JSON.stringify(mod)});
    const { readJson, writeJsonAtomic } = require(${JSON.stringify(path.resolve(__dirname, '../../src/state-file.js'))});
    const file = require('path').join(${JSON.stringify(dir)}, CAPABILITY_FILE);
    for (let j = 0; j < ${per}; j++) {
      const root = 'C:\\\\r${i}-' + j;
      if (${locked}) capabilitySidsFor(${JSON.stringify(dir)}, [root], () => 'S-1-5-21-${i}-' + j);
      else { const k = readJson(file, {}); k[root.toLowerCase()] = 'x'; writeJsonAtomic(file, k); } // the old unlocked update
    }
    void ${JSON.stringify(lockMod)};`;
  await Promise.all(
    Array.from(
      { length: processes },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const c = spawn(process.execPath, ['-e', script(i)], { stdio: 'inherit' });
          c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child ${i} exited ${code}`))));
        }),
    ),
  );
  return Object.keys(JSON.parse(fs.readFileSync(path.join(dir, 'win32-capability-sids.json'), 'utf8'))).length;
}

test('capability SIDs minted by 4 processes at once: every record survives (locked read-modify-write)', async () => {
  assert.equal(await race(tmp(), 4, 40, true), 160);
});

test('control: the same race without the lock loses records (the test can fail)', async () => {
  const kept = await race(tmp(), 4, 40, false);
  assert.ok(kept < 160, `expected lost updates without a lock, kept ${kept}/160`);
});

test('a lock held by a live holder keeps others out; released, the next one gets it', async () => {
  const file = path.join(tmp(), 'ledger.json');
  const order: string[] = [];
  let release!: () => void;
  const first = withFileLock(
    file,
    () =>
      new Promise<void>((r) => {
        order.push('first-in');
        release = () => {
          order.push('first-out');
          r();
        };
      }),
  );
  await new Promise((r) => setTimeout(r, 30));
  const second = withFileLock(
    file,
    () => {
      order.push('second-in');
    },
    { pollMs: 5 },
  );
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(order, ['first-in']);
  release();
  await Promise.all([first, second]);
  assert.deepEqual(order, ['first-in', 'first-out', 'second-in']);
  assert.equal(fs.existsSync(`${file}.lock`), false);
});

test('an abandoned lock (its process is gone) is taken over; a stale untouched one too', () => {
  const dir = tmp();
  const lock = path.join(dir, 'f.lock');
  fs.writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), at: 0 }));
  assert.equal(tryLock(lock), false, 'first attempt clears it');
  assert.equal(tryLock(lock), true);
  fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: 'another-host', at: 0 }));
  const old = new Date(Date.now() - 120_000);
  fs.utimesSync(lock, old, old);
  assert.equal(tryLock(lock, 60_000), false);
  assert.equal(tryLock(lock, 60_000), true);
});

test("a live holder's lock times out with who holds it, never taken over", () => {
  const file = path.join(tmp(), 'x.json');
  fs.writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.pid, host: os.hostname(), at: Date.now() }));
  assert.throws(() => withFileLockSync(file, () => 1, { timeoutMs: 100, pollMs: 10 }), /Timed out .*held by .*"pid":/);
});
