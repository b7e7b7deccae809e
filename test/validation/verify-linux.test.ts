// Validation tier (Linux, real enforcement through bubblewrap + Landlock + seccomp): the probe runs inside the real
// sandbox and every expectation must hold. Then each deliberate hole must fail exactly its checks, proving the
// verifier is not a rubber stamp. Cancelling mid-probe cleans up and rejects. Skips (with the reason) only off
// Linux or without bubblewrap.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { disposeBackends, SandboxError, SandboxErrorCode } from '../../src/sandbox';
import { runVerification, type VerifyHole, type VerifyReport } from '../../src/verify';
import { packageRoot } from '../../src/verify/probe-path';

const bwrap = spawnSync('bwrap', ['--version']).status === 0;
const skip =
  process.platform !== 'linux'
    ? 'needs Linux'
    : !bwrap
      ? 'bubblewrap is not installed (apt-get install bubblewrap)'
      : false;
const ROOT = packageRoot(__dirname) as string;

/** Outside the user's temp (which the sandbox shadows) and outside home (which the home-write hole opens). */
function freshStateDir(): string {
  return fs.mkdtempSync(path.join('/var/tmp', 'agent-sandbox-validation-'));
}

/** Every check the battery must contain on a machine with a LAN address (ids, so a shrunken battery fails). */
const CORE_IDS = [
  'write-workspace',
  'write-sandbox-temp',
  'write-home',
  'write-user-temp',
  'write-system',
  'protected-.git/hooks',
  'protected-.git/config',
  'protected-.vscode',
  'protected-.agent-sandbox',
  'write-symlink',
  'deny-read',
  'net-loopback',
  'net-dns',
  'host-socket',
  'secret-env',
  'orphan-killed',
];

function leftovers(): string[] {
  const found: string[] = [];
  const scan = (dir: string, re: RegExp) => {
    for (const n of fs.readdirSync(dir)) if (re.test(n)) found.push(path.join(dir, n));
  };
  scan(os.homedir(), /^agent-sandbox-verify-/);
  scan('/etc', /^agent-sandbox-verify-/);
  scan(os.tmpdir(), /^agent-sandbox-verify-/);
  scan('/var/tmp', /^agent-sandbox-verify-/);
  return found;
}

async function verify(
  network: 'offline' | 'allowlist' | 'online',
  testHole?: VerifyHole,
): Promise<{ report: VerifyReport; stateDir: string }> {
  const stateDir = freshStateDir();
  try {
    const report = await runVerification({ platform: 'linux', stateDir, policy: {}, network, testHole });
    return { report, stateDir };
  } finally {
    // Everything the verifier made under the state dir is gone; only the backend's own state may remain.
    const mine = fs.readdirSync(stateDir).filter((n) => n.startsWith('verify-'));
    fs.rmSync(stateDir, { recursive: true, force: true });
    assert.deepEqual(mine, [], 'verifier fixtures left in the state dir');
  }
}

function failing(r: VerifyReport): string[] {
  return r.checks
    .filter((c) => !c.pass)
    .map((c) => c.id)
    .sort();
}

function explain(r: VerifyReport): string {
  return r.checks
    .map(
      (c) => `${c.pass ? 'ok  ' : 'FAIL'} ${c.id}: expected ${c.expected}, observed ${c.observed} (${c.detail ?? ''})`,
    )
    .concat(r.notes)
    .join('\n');
}

after(() => disposeBackends());

test('Linux real enforcement: verify offline passes every check, and network checks are DENIED', { skip }, async () => {
  const before = leftovers();
  const { report } = await verify('offline');
  assert.equal(report.ok, true, explain(report));
  const ids = report.checks.map((c) => c.id);
  for (const id of CORE_IDS) assert.ok(ids.includes(id), `missing check ${id}`);
  for (const c of report.checks.filter((x) => x.id.startsWith('net-'))) assert.equal(c.observed, 'DENIED', c.id);
  assert.equal(report.checks.find((c) => c.id === 'write-workspace')?.observed, 'SUCCEEDED');
  assert.deepEqual(leftovers(), before, 'files left behind');
});

test(
  "Linux real enforcement: verify online passes; the network beyond this machine's loopback is reached (the listener saw the probe), the host's 127.0.0.1 services (listener, resolver) are not",
  { skip },
  async () => {
    const { report } = await verify('online');
    assert.equal(report.ok, true, explain(report));
    const net = report.checks.filter((c) => c.id.startsWith('net-'));
    assert.ok(net.length >= 2);
    for (const c of net) {
      const loopback = c.id === 'net-loopback' || c.id === 'net-dns'; // the verifier's resolver listens on 127.0.0.1
      assert.equal(c.observed, loopback ? 'DENIED' : 'SUCCEEDED', `${c.id}: ${c.detail}`);
    }
    assert.ok(
      net.some((c) => c.observed === 'SUCCEEDED'),
      "online reaches something (this machine's network address)",
    );
    assert.equal(
      report.checks.find((c) => c.id === 'host-socket')?.observed,
      'DENIED',
      'host sockets stay hidden online',
    );
  },
);

test('CLI: agent-sandbox verify --json exits 0 with a passing JSON report', { skip }, () => {
  const stateDir = freshStateDir();
  try {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'verify', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, AGENT_SANDBOX_STATE_DIR: stateDir },
      timeout: 120_000,
    });
    const report = JSON.parse(r.stdout) as VerifyReport;
    assert.equal(r.status, 0, `${r.stderr}\n${explain(report)}`);
    assert.equal(report.ok, true);
    assert.ok(report.checks.length >= CORE_IDS.length);
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});

test(
  'Linux real enforcement: verify allowlist passes: direct TCP and DNS DENIED, the allowed name reachable only through the proxy, the rest refused',
  { skip },
  async () => {
    const { report } = await verify('allowlist');
    assert.equal(report.ok, true, explain(report));
    const obs = Object.fromEntries(report.checks.map((c) => [c.id, c.observed]));
    assert.equal(obs['allow-reachable'], 'SUCCEEDED');
    for (const id of ['allow-refused', 'allow-private', 'allow-no-credential', 'net-loopback', 'net-dns'])
      assert.equal(obs[id], 'DENIED', id);
  },
);

const HOLES: [VerifyHole, 'offline' | 'allowlist' | 'online', (id: string) => boolean][] = [
  ['network', 'offline', (id) => id.startsWith('net-')],
  ['protected-path', 'offline', (id) => id === 'protected-.vscode'],
  ['deny-read', 'offline', (id) => id === 'deny-read'],
  ['secret-env', 'offline', (id) => id === 'secret-env'],
  ['home-write', 'offline', (id) => id === 'write-home'],
  ['orphan', 'offline', (id) => id === 'orphan-killed'],
  ['host-socket', 'online', (id) => id === 'host-socket'],
  ['allowlist-direct', 'allowlist', (id) => id.startsWith('net-')],
  ['allowlist-all', 'allowlist', (id) => id === 'allow-refused'],
  ['allowlist-private', 'allowlist', (id) => id === 'allow-private'],
];

for (const [hole, network, breaks] of HOLES) {
  test(`not a rubber stamp: the "${hole}" hole fails exactly its checks (Linux, real sandbox)`, { skip }, async () => {
    const before = leftovers();
    const { report } = await verify(network, hole);
    const expected = report.checks
      .map((c) => c.id)
      .filter(breaks)
      .sort();
    assert.ok(expected.length > 0, 'the hole must target at least one check');
    assert.deepEqual(failing(report), expected, explain(report));
    assert.equal(report.ok, false);
    for (const c of report.checks.filter((x) => breaks(x.id)))
      assert.equal(c.observed, 'SUCCEEDED', `${c.id} must show the hole`);
    assert.deepEqual(leftovers(), before, 'files left behind even though a check failed');
  });
}

test(
  "a state dir under the host's /tmp (which the sandbox replaces): the checks outside the workspace still prove something (the deny-read hole shows), nothing left",
  { skip },
  async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-sandbox-validation-'));
    try {
      const before = leftovers();
      const report = await runVerification({ platform: 'linux', stateDir, policy: {}, network: 'offline' });
      assert.equal(report.ok, true, explain(report));
      for (const id of ['deny-read', 'write-symlink'])
        assert.equal(report.checks.find((c) => c.id === id)?.observed, 'DENIED', explain(report));
      const hole = await runVerification({
        platform: 'linux',
        stateDir,
        policy: {},
        network: 'offline',
        testHole: 'deny-read',
      });
      assert.deepEqual(failing(hole), ['deny-read'], explain(hole));
      assert.deepEqual(leftovers(), before);
    } finally {
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  },
);

test(
  "a state dir too deep for a socket address (as VS Code's storage can be): the host-socket check still holds, nothing left",
  { skip },
  async () => {
    const base = freshStateDir();
    const stateDir = path.join(
      base,
      'user-data',
      'User',
      'globalStorage',
      'agent-sandbox.agent-sandbox',
      'x'.repeat(30),
    );
    fs.mkdirSync(stateDir, { recursive: true });
    try {
      const before = leftovers();
      const report = await runVerification({ platform: 'linux', stateDir, policy: {}, network: 'offline' });
      assert.equal(report.ok, true, explain(report));
      assert.equal(report.checks.find((c) => c.id === 'host-socket')?.observed, 'DENIED', explain(report));
      const hole = await runVerification({
        platform: 'linux',
        stateDir,
        policy: {},
        network: 'offline',
        testHole: 'host-socket',
      });
      assert.deepEqual(failing(hole), ['host-socket'], explain(hole));
      assert.deepEqual(leftovers(), before);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  },
);

test(
  "verify --workspace DIR leaves the user's folder as it was, apart from placeholders the sandbox itself made",
  { skip },
  async () => {
    const ws = fs.mkdtempSync(path.join('/var/tmp', 'agent-sandbox-validation-ws-'));
    const stateDir = freshStateDir();
    try {
      fs.writeFileSync(path.join(ws, 'mine.txt'), 'user data');
      const report = await runVerification({
        platform: 'linux',
        stateDir,
        policy: {},
        network: 'offline',
        workspace: ws,
      });
      assert.equal(report.ok, true, explain(report));
      const placeholders = ['.git', '.vscode', '.agent-sandbox', '.envrc', '.env'];
      const extra = fs.readdirSync(ws).filter((n) => n !== 'mine.txt' && !placeholders.includes(n));
      assert.deepEqual(extra, [], 'verifier files left in the user workspace');
      assert.equal(fs.readFileSync(path.join(ws, 'mine.txt'), 'utf8'), 'user data');
      const planted = spawnSync('find', [ws, '-name', 'agent-sandbox-verify-*'], { encoding: 'utf8' }).stdout.trim();
      assert.equal(planted, '', 'probe files left in the user workspace');
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  },
);

test(
  'cancelling Verify while the probe runs in the real sandbox stops it, cleans up, and rejects with cancelled',
  { skip },
  async () => {
    const ws = fs.mkdtempSync(path.join('/var/tmp', 'agent-sandbox-validation-ws-'));
    const stateDir = freshStateDir();
    const before = leftovers();
    const ac = new AbortController();
    let sawProbe = false;
    // The probe's first files in the workspace show it is running inside the sandbox; cancel then.
    const watch = setInterval(() => {
      if (fs.readdirSync(ws).some((n) => n.startsWith('agent-sandbox-verify-'))) {
        sawProbe = true;
        ac.abort();
      }
    }, 5);
    try {
      await assert.rejects(
        runVerification({
          platform: 'linux',
          stateDir,
          policy: {},
          network: 'offline',
          workspace: ws,
          signal: ac.signal,
        }),
        (e: unknown) => e instanceof SandboxError && e.code === SandboxErrorCode.Cancelled,
      );
      assert.ok(sawProbe, 'the cancel came while the probe was running');
      assert.deepEqual(
        fs.readdirSync(stateDir).filter((n) => n.startsWith('verify-')),
        [],
        'verifier fixtures left in the state dir',
      );
      const planted = spawnSync('find', [ws, '-name', 'agent-sandbox-verify-*'], { encoding: 'utf8' }).stdout.trim();
      assert.equal(planted, '', 'probe files left in the workspace');
      assert.deepEqual(leftovers(), before);
    } finally {
      clearInterval(watch);
      fs.rmSync(ws, { recursive: true, force: true });
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  },
);

test(
  "Verify names the repository's unprotected hook-manager config and says whether its run made nested repositories",
  { skip },
  async () => {
    const ws = fs.mkdtempSync(path.join('/var/tmp', 'agent-sandbox-validation-ws-'));
    const stateDir = freshStateDir();
    const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: ws };
    try {
      spawnSync('git', ['init', '-q'], { cwd: ws, env });
      spawnSync('git', ['config', 'core.hooksPath', '.husky/_'], { cwd: ws, env });
      fs.mkdirSync(path.join(ws, '.husky/_'), { recursive: true });
      fs.writeFileSync(path.join(ws, '.husky/pre-commit'), 'npx lint-staged\n');
      fs.writeFileSync(path.join(ws, 'package.json'), '{ "lint-staged": { "*.js": "eslint --fix" } }\n');
      const report = await runVerification({
        platform: 'linux',
        stateDir,
        policy: { workspaceRoots: [ws] },
        network: 'offline',
      });
      assert.ok(
        report.notes.some(
          (n) =>
            n.startsWith(`Unprotected: ${ws}/package.json: lint-staged`) && n.includes('agentSandbox.protectedPaths'),
        ),
        report.notes.join('\n'),
      );
      assert.ok(
        report.notes.some((n) => /^Nested repositories: .*core\.fsmonitor.*this run made none/.test(n)),
        report.notes.join('\n'),
      );
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  },
);
