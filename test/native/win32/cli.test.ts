// Wine tier: `agent-sandbox run` on win32 end to end through the real backend (dist/cli.js under node.exe).
// Plumbing only: Wine does not enforce the restricted token, file ACLs or the network block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { revertWindowsAcls } from '../../../src/sandbox/windows';

const CLI = path.resolve(__dirname, '../../../../dist/cli.js');

function runCli(args: string[]) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cli-'));
  const workspace = path.join(base, 'ws');
  fs.mkdirSync(workspace);
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: workspace, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000,
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: path.join(base, 'state') },
  });
  return { ...r, base };
}

test('agent-sandbox run -- cmd /c echo hi prints hi and exits 0 (plumbing only; Wine does not enforce the sandbox)', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'echo', 'hi']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'hi');
  const ledger = JSON.parse(fs.readFileSync(path.join(r.base, 'state', 'win32-acl-ledger.json'), 'utf8'));
  assert.ok(ledger.records.length > 0, 'the ACL operations were recorded in the ledger');
  const caps = JSON.parse(fs.readFileSync(path.join(r.base, 'state', 'win32-capability-sids.json'), 'utf8'));
  assert.equal(Object.keys(caps).length, 1, 'one capability SID for the one workspace');
});

test('agent-sandbox run passes the command exit code through (plumbing only; Wine does not enforce the sandbox)', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'exit 3']);
  assert.equal(r.status, 3, r.stderr);
});

test('agent-sandbox run reports an unknown program as a sandbox failure (exit 125), running nothing', () => {
  const r = runCli(['run', '--', 'no-such-program-xyz']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /not found/);
});

test('revertWindowsAcls empties the ledger written by a run (plumbing only; Wine does not store file ACLs)', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'exit 0']);
  assert.equal(r.status, 0, r.stderr);
  const stateDir = path.join(r.base, 'state');
  const before = JSON.parse(fs.readFileSync(path.join(stateDir, 'win32-acl-ledger.json'), 'utf8')).records.length;
  const result = revertWindowsAcls(stateDir);
  assert.equal(result.failures.length, 0);
  assert.equal(result.reverted.length, before);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(stateDir, 'win32-acl-ledger.json'), 'utf8')).records, []);
});

test('a second run in the same state dir reuses the workspace capability SID', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'exit 0']);
  const stateDir = path.join(r.base, 'state');
  const caps = fs.readFileSync(path.join(stateDir, 'win32-capability-sids.json'), 'utf8');
  const again = spawnSync(process.execPath, [CLI, 'run', '--', 'cmd', '/c', 'exit 0'], {
    cwd: path.join(r.base, 'ws'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: stateDir },
  });
  assert.equal(again.status, 0, again.stderr);
  assert.equal(fs.readFileSync(path.join(stateDir, 'win32-capability-sids.json'), 'utf8'), caps);
});
