// Wine tier: `agent-sandbox run` on win32 end to end through the real backend (dist/cli.js under node.exe).
// Plumbing only: Wine does not enforce the restricted token, file ACLs or the network block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { revertUnelevatedAcls } from '../../../src/sandbox/windows/prepare';
import { fileSecurityStore } from '../../../src/sandbox/windows/file-store';

const CLI = path.resolve(__dirname, '../../../../dist/cli.js');

/** Runs the CLI in a fresh workspace (`repo`: one with a `.git` folder holding HEAD, as a repository has). */
function runCli(args: string[], opts: { repo?: boolean } = {}) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cli-'));
  const workspace = path.join(base, 'ws');
  fs.mkdirSync(workspace);
  if (opts.repo) {
    fs.mkdirSync(path.join(workspace, '.git'));
    fs.writeFileSync(path.join(workspace, '.git', 'HEAD'), 'ref: refs/heads/main\n'); // without HEAD, .git is sealed whole
  }
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: workspace,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: path.join(base, 'state') },
  });
  return { ...r, base };
}

test('agent-sandbox run -- cmd /c echo hi prints hi and exits 0 (plumbing only; Wine does not enforce the sandbox)', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'echo', 'hi']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'hi');
  assert.match(r.stderr, /agent-sandbox: warning: .*Wine.*NOT enforced/, 'the run says that nothing is enforced here');
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

test('revertUnelevatedAcls empties the ledger written by a run (plumbing only; Wine does not store file ACLs)', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'exit 0']);
  assert.equal(r.status, 0, r.stderr);
  const stateDir = path.join(r.base, 'state');
  const before = JSON.parse(fs.readFileSync(path.join(stateDir, 'win32-acl-ledger.json'), 'utf8')).records.length;
  assert.ok(before > 0, 'the run recorded its grants (otherwise emptying the ledger proves nothing)');
  const result = revertUnelevatedAcls(stateDir, fileSecurityStore(stateDir));
  assert.equal(result.failures.length, 0);
  assert.equal(result.reverted.length, before);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(stateDir, 'win32-acl-ledger.json'), 'utf8')).records, []);
});

test('a second run in the same state dir reuses the workspace capability SID', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'exit 0']);
  const stateDir = path.join(r.base, 'state');
  const caps = fs.readFileSync(path.join(stateDir, 'win32-capability-sids.json'), 'utf8');
  const again = spawnSync(process.execPath, [CLI, 'run', '--', 'cmd', '/c', 'exit 0'], {
    cwd: path.join(r.base, 'ws'),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: stateDir },
  });
  assert.equal(again.status, 0, again.stderr);
  assert.equal(fs.readFileSync(path.join(stateDir, 'win32-capability-sids.json'), 'utf8'), caps);
});

test('in a repository, a run creates empty placeholders for missing protected paths (.git\\config), recorded in the ledger (plumbing only; Wine does not store the deny ACE)', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'exit 0'], { repo: true });
  assert.equal(r.status, 0, r.stderr);
  const config = path.join(r.base, 'ws', '.git', 'config');
  assert.equal(fs.statSync(config).size, 0);
  const ledger = JSON.parse(fs.readFileSync(path.join(r.base, 'state', 'win32-acl-ledger.json'), 'utf8')) as {
    records: { path: string; action: string; createdPaths?: string[] }[];
  };
  const rec = ledger.records.find((x) => x.path.toLowerCase() === config.toLowerCase() && x.action === 'deny');
  assert.ok(
    rec?.createdPaths?.some((p) => p.toLowerCase() === config.toLowerCase()),
    JSON.stringify(ledger.records),
  );
});

test('outside a repository, a run makes .git one empty folder with an inherited deny, with nothing inside it (plumbing only; Wine does not store the deny ACE)', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'exit 0']);
  assert.equal(r.status, 0, r.stderr);
  const git = path.join(r.base, 'ws', '.git');
  assert.deepEqual(fs.readdirSync(git), []);
  const ledger = JSON.parse(fs.readFileSync(path.join(r.base, 'state', 'win32-acl-ledger.json'), 'utf8')) as {
    records: { path: string; action: string; inheritance: number; createdPaths?: string[] }[];
  };
  const rec = ledger.records.find((x) => x.path.toLowerCase() === git.toLowerCase());
  assert.equal(rec?.action, 'deny', JSON.stringify(ledger.records));
  assert.equal(rec?.inheritance, 3, 'the deny covers whatever would be created inside');
  assert.ok(rec?.createdPaths?.some((p) => p.toLowerCase() === git.toLowerCase()));
  assert.ok(!ledger.records.some((x) => x.path.toLowerCase().startsWith(`${git.toLowerCase()}\\`)));
});

test('agent-sandbox uninstall reverts the unelevated ledger and deletes the empty placeholders; under Wine the administrator part still runs because the firewall cannot be checked, and reports that (exit 125)', () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'exit 0']);
  assert.equal(r.status, 0, r.stderr);
  const stateDir = path.join(r.base, 'state');
  const ws = path.join(r.base, 'ws');
  fs.writeFileSync(path.join(ws, '.vscode', 'settings.json'), '{}');
  const before = JSON.parse(fs.readFileSync(path.join(stateDir, 'win32-acl-ledger.json'), 'utf8')).records.length;
  assert.ok(before > 0);
  const u = spawnSync(process.execPath, [CLI, 'uninstall'], {
    cwd: ws,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: stateDir },
  });
  assert.match(
    u.stderr,
    new RegExp(`Reverted ${before} folder permission\\(s\\) the sandbox had added, and removed \\d+ empty placeholder`),
  );
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(stateDir, 'win32-acl-ledger.json'), 'utf8')).records, []);
  assert.equal(
    fs.existsSync(path.join(ws, '.git')),
    false,
    '.git\\config, .git\\hooks and .git were created empty and removed',
  );
  assert.equal(
    fs.readFileSync(path.join(ws, '.vscode', 'settings.json'), 'utf8'),
    '{}',
    'a created folder now holding data is kept',
  );
  assert.match(u.stderr, /Kept .*\.vscode: the sandbox created it, but it is no longer empty/);
  assert.equal(u.status, 125, u.stdout + u.stderr);
  assert.match(u.stderr, /firewall rule .*could not be checked/);
});

test("agent-sandbox uninstall --workspace reverts only that workspace's ledger records, removes its empty placeholders and forgets its SID, without the administrator part (plumbing only)", () => {
  const r = runCli(['run', '--', 'cmd', '/c', 'exit 0']);
  assert.equal(r.status, 0, r.stderr);
  const stateDir = path.join(r.base, 'state');
  const ws = path.join(r.base, 'ws');
  const u = spawnSync(process.execPath, [CLI, 'uninstall', '--workspace', ws], {
    cwd: r.base,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: stateDir },
  });
  assert.equal(u.status, 0, u.stdout + u.stderr);
  assert.match(u.stdout, /\d+ permission\(s\) reverted, \d+ empty placeholder\(s\) removed/);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(stateDir, 'win32-acl-ledger.json'), 'utf8')).records, []);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(stateDir, 'win32-capability-sids.json'), 'utf8')), {});
  assert.equal(fs.existsSync(path.join(ws, '.git')), false);
  assert.doesNotMatch(u.stderr, /administrator/);
});
