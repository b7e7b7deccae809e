// Unit: Verify honours an AbortSignal: an already-aborted run rejects with `cancelled` and still removes everything
// its fixture made (no sandbox is needed: it stops before the probe starts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runVerification } from '../../src/verify';
import { SandboxError, SandboxErrorCode } from '../../src/errors';
import type { Platform } from '../../src/policy';

test('an aborted Verify rejects with cancelled after cleaning up its fixtures', async () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-cancel-state-'));
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-cancel-ws-'));
  try {
    await assert.rejects(
      runVerification({
        platform: process.platform as Platform,
        stateDir: state,
        policy: {},
        workspace: ws,
        network: 'offline',
        signal: AbortSignal.abort(),
      }),
      (e: unknown) => e instanceof SandboxError && e.code === SandboxErrorCode.Cancelled,
    );
    assert.deepEqual(fs.readdirSync(state), [], 'the outside fixtures are gone');
    assert.deepEqual(fs.readdirSync(ws), [], 'the workspace fixtures are gone');
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
    fs.rmSync(ws, { recursive: true, force: true });
  }
});
