// Wine tier: the Windows backend's one-time preparation through the real SetNamedSecurityInfoW bindings reports
// progress per ACL operation, lets the event loop run between operations, and stops on cancel with `cancelled`
// before anything runs, keeping what it applied in the ledger. Plumbing only: Wine does not store file ACLs, so
// whether the rerun skips the applied ACEs is covered by the unit tests over the in-memory store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createWindowsBackend } from '../../../src/sandbox/windows';
import { LEDGER_FILE } from '../../../src/sandbox/windows/prepare';
import { SandboxError, SandboxErrorCode } from '../../../src/errors';
import { sandboxFixture } from './fixture';

test('cancelling the preparation mid-way rejects the spawn with cancelled and records what was applied; the next spawn prepares and runs', async () => {
  const { ws, stateDir, plan } = sandboxFixture('prep-cancel');
  let cancel = new AbortController();
  let cancelAt = 2;
  const reports: number[] = [];
  let loopRanAfter: number | undefined;
  const backend = createWindowsBackend({
    stateDir,
    preparationSignal: () => cancel.signal,
    onProgress: (p) => {
      reports.push(p.done);
      if (p.done === 1) setImmediate(() => (loopRanAfter = reports.length));
      if (p.done === cancelAt) cancel.abort();
    },
  });
  const spec = { argv: [process.execPath, '-e', 'console.log("ran")'], cwd: ws, stdio: 'pipe' as const };
  await assert.rejects(
    backend.spawn(plan, spec),
    (e: unknown) => e instanceof SandboxError && e.code === SandboxErrorCode.Cancelled,
  );
  assert.deepEqual(reports, [1, 2], 'no operation ran after the cancel');
  assert.equal(loopRanAfter, 1, 'the event loop ran between the first and second operation');
  const ledger = JSON.parse(fs.readFileSync(path.join(stateDir, LEDGER_FILE), 'utf8')) as { records: unknown[] };
  assert.ok(
    ledger.records.length >= 1 && ledger.records.length <= 2,
    `applied ACEs are recorded (${ledger.records.length})`,
  );
  cancel = new AbortController();
  cancelAt = 0;
  reports.length = 0;
  const proc = await backend.spawn(plan, spec);
  proc.stdin?.end();
  let out = '';
  proc.stdout?.on('data', (d) => (out += d));
  const exit = await proc.exited;
  assert.equal(exit.code, 0);
  assert.match(out, /ran/);
  assert.ok(reports.length > 2, 'the rerun went through every operation');
  await backend.dispose();
});

test('a spawn whose signal is already aborted once the sandbox is prepared is killed at once instead of running on (plumbing: the job kill)', async () => {
  const { ws, stateDir, plan } = sandboxFixture('pre-aborted');
  const backend = createWindowsBackend({ stateDir });
  try {
    const warm = await backend.spawn(plan, { argv: ['cmd', '/c', 'exit 0'], cwd: ws, stdio: 'pipe' });
    warm.stdin?.end();
    assert.equal((await warm.exited).code, 0);
    const ac = new AbortController();
    ac.abort();
    const started = Date.now();
    const proc = await backend.spawn(plan, {
      argv: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'],
      cwd: ws,
      stdio: 'pipe',
      signal: ac.signal,
    });
    proc.stdin?.end();
    const exit = await proc.exited;
    assert.equal(exit.code, 137, 'ended through the job, like SIGKILL');
    assert.ok(Date.now() - started < 30_000, 'it did not run its 60 s');
  } finally {
    await backend.dispose();
  }
});
