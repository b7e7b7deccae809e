// Wine tier: setup and uninstall end to end through ShellExecuteExW("runas"): the elevated part starts on the
// same runtime (Wine shows no UAC prompt and grants nothing extra), connects back over the Administrators-only
// result pipe, runs its steps and reports each one. Wine keeps accounts and groups only inside the calling process
// and stubs firewall COM, so setup must stop at its first read-back with a stable code, store no password, and
// uninstall must report what it could not check. Real account creation and the firewall need real Windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setupWindowsSandbox, describeWindowsSetup } from '../../../src/sandbox/windows/setup';
import { uninstallWindowsSandbox } from '../../../src/sandbox/windows/uninstall';
import { SandboxError } from '../../../src/errors';

function dirs() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'asb-setup-'));
  const ws = path.join(base, 'ws');
  fs.mkdirSync(ws);
  return { base, ws, stateDir: path.join(base, 'state') };
}

test('setup under Wine: the elevated part runs via ShellExecuteExW runas and reports its first failed read-back (Wine creates no group), storing no password', async () => {
  const d = dirs();
  const progress: string[] = [];
  try {
    assert.ok((await describeWindowsSetup({ workspaceRoots: [d.ws] })).some((l) => l === `Allow writing: ${d.ws}`));
    await assert.rejects(
      setupWindowsSandbox({ stateDir: d.stateDir, workspaceRoots: [d.ws], onProgress: (m) => progress.push(m) }),
      (e: unknown) =>
        e instanceof SandboxError &&
        e.code === 'setup-failed' &&
        /\[setup-group-failed\]/.test(e.message) &&
        /running setup again resumes/.test(e.message),
    );
    assert.ok(
      progress.some((m) => /Creating the local group AgentSandboxUsers: failed/.test(m)),
      progress.join('\n'),
    );
    assert.ok(progress.some((m) => /Recording the setup version: skipped/.test(m)));
    assert.equal(fs.existsSync(path.join(d.stateDir, 'elevated-credentials.json')), false);
  } finally {
    fs.rmSync(d.base, { recursive: true, force: true });
  }
});

test('uninstall under Wine: every step runs elevated and what cannot be checked (stubbed firewall COM) is reported as left over', async () => {
  const d = dirs();
  try {
    await assert.rejects(
      uninstallWindowsSandbox({ stateDir: d.stateDir }),
      (e: unknown) =>
        e instanceof SandboxError && /Still present: firewall rule .*could not be checked/.test(e.message),
    );
  } finally {
    fs.rmSync(d.base, { recursive: true, force: true });
  }
});
