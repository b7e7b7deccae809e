// Wine tier: the non-blocking elevation path. ShellExecuteExW("runas") runs on koffi's worker thread so the UAC
// prompt cannot freeze the event loop; its failure code (1223 when the user declines) must come from that worker
// thread. Wine shows no UAC prompt and grants nothing extra: these tests check the async marshalling (the _Inout_
// struct copied back, the worker's last error delivered) and process plumbing, never elevation itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ERROR_CANCELLED, runElevated, waitForExit } from '../../../native-bindings/win32/elevate';
import { lastError, Win32Error } from '../../../native-bindings/win32/errors';
import { lazyAsyncCall, lazyFn } from '../../../native-bindings/win32/lib';

const SetLastErrorAsync = lazyAsyncCall('kernel32.dll', 'void SetLastError(uint32 code)');
const SetLastError = lazyFn('kernel32.dll', 'void SetLastError(uint32 code)');

test("async calls deliver the worker thread's last error (1223 set on the worker), not the main thread's", async () => {
  SetLastError(1337);
  const pending = SetLastErrorAsync(ERROR_CANCELLED);
  SetLastError(5);
  assert.equal((await pending).lastError, ERROR_CANCELLED);
  assert.equal(lastError(), 5, 'the main thread keeps its own last error');
});

test("concurrent async calls each get their own worker's last error", async () => {
  const codes = [2, 5, 87, 1223, 1314, 1337, 1332, 183];
  const outcomes = await Promise.all(codes.map((c) => SetLastErrorAsync(c)));
  assert.deepEqual(
    outcomes.map((o) => o.lastError),
    codes,
  );
});

test('runElevated: ShellExecuteExW failing on the worker thread rejects with its own code (missing file 2, missing folder 3)', async () => {
  const dir = os.tmpdir();
  await assert.rejects(
    runElevated(path.join(dir, 'agent-sandbox-missing.exe'), '', dir),
    (e: unknown) => e instanceof Win32Error && e.api === 'ShellExecuteExW' && e.code === 2,
  );
  await assert.rejects(
    runElevated('C:\\agent-sandbox-no-such-dir\\missing.exe', '', dir),
    (e: unknown) => e instanceof Win32Error && e.api === 'ShellExecuteExW' && e.code === 3,
  );
});

test('runElevated under Wine (no UAC prompt) returns the process handle through the _Inout_ struct; waitForExit reads its exit code', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asb-elev-'));
  try {
    const script = path.join(dir, 'exit.js');
    fs.writeFileSync(script, 'process.exit(7)');
    const started = await runElevated(process.execPath, `"${script}"`, dir);
    try {
      assert.ok(started.pid > 0);
      assert.equal(await waitForExit(started.process), 7);
    } finally {
      started.process.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
