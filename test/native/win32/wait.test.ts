// Wine tier: exits of more sandboxed commands than libuv has pool threads are all reported, and the pool stays
// free meanwhile (a registered wait, never a pool thread per command). Plumbing only: Wine does not enforce the
// restricted token these commands run under.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {
  buildRestrictedToken,
  openProcessToken,
  RestrictedTokenFlags,
  tokenLogonSid,
} from '../../../native-bindings/win32/token';
import { Job } from '../../../native-bindings/win32/job';
import { createPipePair, pipeSddl } from '../../../native-bindings/win32/pipe';
import { createProcessAsUser, type ChildProcess } from '../../../native-bindings/win32/process';
import { tokenUserSid } from '../../../native-bindings/win32/token';
import { pendingWaits } from '../../../native-bindings/win32/wait';

const POOL = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
const COMMANDS = POOL + 2;

async function startPing(seconds: number) {
  const own = openProcessToken();
  const logon = tokenLogonSid(own);
  const user = tokenUserSid(own);
  own.close();
  const token = buildRestrictedToken({
    flags: RestrictedTokenFlags.DISABLE_MAX_PRIVILEGE,
    restrictingSids: [logon, 'S-1-1-0'],
    keepPrivileges: ['SeChangeNotifyPrivilege'],
    defaultDacl: [{ sid: logon, mask: 0x10000000 }],
  });
  const job = Job.createKillOnClose();
  const pair = await createPipePair('wait-test', pipeSddl([user]));
  // `ping -n N` takes about N-1 seconds under Wine as on Windows; exit code 0.
  const child = createProcessAsUser({
    token,
    commandLine: `C:\\windows\\system32\\ping.exe -n ${seconds + 1} 127.0.0.1`,
    cwd: process.cwd(),
    env: { ...process.env } as Record<string, string>,
    stdio: [pair.server.value, pair.server.value, pair.server.value],
    job,
  });
  pair.server.close();
  pair.socket.resume();
  token.close();
  return { child, job, pair };
}

test('Wine: more running commands than libuv pool threads all report their exit, and fs stays responsive meanwhile', async () => {
  const started: { child: ChildProcess; job: Job; pair: Awaited<ReturnType<typeof createPipePair>> }[] = [];
  try {
    for (let i = 0; i < COMMANDS; i++) started.push(await startPing(3));
    const exits = started.map((s) => s.child.wait());
    assert.equal(pendingWaits(), COMMANDS, 'one registered wait per running command');
    // While all of them run, an async fs call must not queue behind them (it would wait ~3 s with pool waits).
    const t0 = Date.now();
    await fs.promises.readFile(__filename);
    const fsMs = Date.now() - t0;
    assert.ok(fsMs < 1500, `fs.promises.readFile took ${fsMs} ms while ${COMMANDS} commands ran`);
    const codes = await Promise.all(exits);
    assert.deepEqual(
      codes,
      codes.map(() => 0),
    );
    assert.equal(pendingWaits(), 0);
  } finally {
    for (const s of started) {
      s.child.close();
      s.job.close();
      s.pair.socket.destroy();
    }
  }
});

test('Wine: control — the same fs call does queue behind pool-blocking native calls (the test can fail)', async () => {
  // Fill the pool with blocking koffi async calls (Sleep), as the old WaitForSingleObject waits did.
  const { lazyAsyncFn } = await import('../../../native-bindings/win32/lib');
  const Sleep = lazyAsyncFn('kernel32.dll', 'void Sleep(uint32 ms)');
  const sleeps = Array.from({ length: POOL }, () => Sleep(2000));
  await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  await fs.promises.readFile(__filename);
  const fsMs = Date.now() - t0;
  await Promise.all(sleeps);
  assert.ok(fsMs >= 1500, `with the pool full, readFile should have waited (took ${fsMs} ms)`);
});
