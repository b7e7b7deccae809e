import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const cli = path.join(root, 'dist', 'cli.js');

function run(args: string[], cwd = root) {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cli-state-'));
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: state },
  });
  fs.rmSync(state, { recursive: true, force: true });
  return r;
}

test('the CLI bundle exists (npm run build)', () => {
  assert.ok(fs.existsSync(cli), `${cli} is missing: run "node scripts/build.mjs"`);
});

test('usage errors exit 2 and say what to do', () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /Unknown command "frobnicate"/],
    [['run'], /No command given/],
    [['run', 'echo', 'hi'], /Put the command after "--"/],
    [
      ['run', '--network', 'sometimes', '--', 'true'],
      /--network must be "offline", "allowlist" or "online", not "sometimes"/,
    ],
    [['run', '--timeout=-3', '--', 'true'], /--timeout must be a positive number of seconds/],
    [['run', '--timeout', 'abc', '--', 'true'], /--timeout must be a positive number/],
    [['plan', '--platform', 'darwin'], /--platform must be "linux" or "win32", not "darwin"/],
    [['plan', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, msg] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg, args.join(' '));
  }
});

test('every subcommand has --help', () => {
  const top = run(['--help']);
  assert.equal(top.status, 0);
  const names = [...top.stdout.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]);
  assert.ok(names.includes('run') && names.includes('plan'), top.stdout);
  for (const name of names) {
    const r = run([name, '--help']);
    assert.equal(r.status, 0, `${name} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`Usage: agent-sandbox ${name}`));
  }
});

test('plan --json prints complete plans for both platforms', () => {
  const w = run(['plan', '--platform', 'win32', '--workspace', 'C:\\Users\\dev\\repo', '--json']);
  assert.equal(w.status, 0, w.stderr);
  const wp = JSON.parse(w.stdout);
  assert.equal(wp.platform, 'win32');
  assert.deepEqual(wp.workspaceRoots, ['C:\\Users\\dev\\repo']);
  assert.ok(wp.acl.length > 0 && wp.token.restrictingSids.length === 3);
  const l = run(['plan', '--platform', 'linux', '--workspace', '/home/dev/repo', '--json']);
  assert.equal(l.status, 0, l.stderr);
  const lp = JSON.parse(l.stdout);
  assert.equal(lp.platform, 'linux');
  assert.ok(lp.bwrapArgs.includes('--unshare-net'));
});

test("plan --platform win32 --elevated --json previews on any machine the plan setup and the elevated backend consume: the accounts, their firewall rule and the group's grants", () => {
  const r = run(['plan', '--platform', 'win32', '--elevated', '--workspace', 'C:\\Users\\dev\\repo', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  assert.equal(p.windowsMode, 'elevated');
  assert.equal(p.networkEnforcement, 'firewall');
  assert.deepEqual(
    p.accounts.users.map((u: { name: string }) => u.name),
    ['AgentSandboxOffline', 'AgentSandboxOnline'],
  );
  assert.deepEqual(
    p.firewall.map((f: { name: string; user: object }) => [f.name, f.user]),
    [['Agent Sandbox: block outbound for AgentSandboxOffline', { kind: 'sandbox-user', network: 'offline' }]],
  );
  const group = p.acl
    .filter((a: { sid: { kind: string } }) => a.sid.kind === 'sandbox-group')
    .map((a: { path: string; reason: string }) => a.reason);
  assert.deepEqual([...new Set(group)].sort(), ['runtime-read', 'temp-dir', 'writable-root']);
  assert.ok(!p.warnings.some((w: string) => /Reads are not restricted/.test(w)), 'no unelevated-mode warning');
  // Control: the same preview for unelevated mode has no accounts, no rule and no group grant.
  const u = JSON.parse(
    run(['plan', '--platform', 'win32', '--unelevated', '--workspace', 'C:\\Users\\dev\\repo', '--json']).stdout,
  );
  assert.equal(u.windowsMode, 'unelevated');
  assert.equal(u.accounts, undefined);
  assert.deepEqual(u.firewall, []);
  assert.equal(run(['plan', '--platform', 'linux', '--elevated']).status, 2, '--elevated is for win32 plans');
});

test('plan refuses an over-broad root with exit 125 and the reason', () => {
  const r = run(['plan', '--platform', 'linux', '--workspace', '/']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /is refused because it is the root of a drive or filesystem/);
  assert.match(r.stderr, /Nothing was run/);
});

test('run with a missing workspace exits 125 and runs nothing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cli-'));
  const marker = path.join(dir, 'ran');
  const r = run(['run', '--workspace', path.join(dir, 'missing'), '--', 'touch', marker], dir);
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /does not exist/);
  assert.equal(fs.existsSync(marker), false, 'the command must not have run');
  fs.rmSync(dir, { recursive: true, force: true });
});
