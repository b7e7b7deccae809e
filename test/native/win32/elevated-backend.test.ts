// Wine tier: the elevated backend's whole command path (plan → elevated plan → ledgered preparation → broker →
// runner → restricted token in a job) with the runner started directly instead of by CreateProcessWithLogonW,
// which Wine does not implement. Under Wine the runner is the same account, the ACLs are not stored and nothing is
// enforced: this checks plumbing and routing, never isolation (the Verify command checks that on real Windows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { elevatedFixturePlan, sandboxFixture } from './fixture';
import { createElevatedBackend } from '../../../src/sandbox/windows/elevated/backend';
import { loadElevatedBackend } from '../../../src/sandbox/windows/elevated';
import { windowsSandboxStatus } from '../../../src/sandbox/windows/setup';
import { LEDGER_FILE } from '../../../src/sandbox/windows/prepare';
import type { BrokerPipes } from '../../../src/sandbox/windows/elevated/broker-client';
import { openProcessToken, tokenUserSid } from '../../../native-bindings/win32/token';
import * as net from 'node:net';
import { configureSharedProxy } from '../../../src/network/shared';
import { compilePlan } from '../../../src/policy';
import { hostContext } from '../../../src/sandbox/host';
import { WINDOWS_PROXY_PORTS } from '../../../src/policy/compile-win32';

const RUNNER = path.join(__dirname, '..', '..', '..', 'src', 'runner', 'windows', 'entry.js');

/** The elevated backend as setup would leave it, but with this process's account and the runner started directly. */
function elevatedUnderWine(fx: { ws: string; stateDir: string }) {
  const t = openProcessToken();
  const me = tokenUserSid(t);
  t.close();
  const marker = { version: 1, groupSid: 'S-1-5-21-7-7-7-1001', offlineSid: me, onlineSid: me };
  const children: ChildProcess[] = [];
  const launcher = () => async (pipes: BrokerPipes) => {
    const child = spawn(
      process.execPath,
      [RUNNER, '--broker', '--requests', pipes.requests, '--events', pipes.events],
      { stdio: 'ignore' },
    );
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    return { pid: child.pid! };
  };
  return {
    marker,
    children,
    backend: createElevatedBackend({ stateDir: fx.stateDir }, marker, launcher),
    // Wine has no firewall: offline runs only when the plan accepts a firewall that does not enforce.
    plan: elevatedFixturePlan(fx, marker.groupSid, { requireEnforcedFirewall: false }),
  };
}

test('elevated backend under Wine: a command runs through the broker with the group grants ledgered (runner started directly; no account, ACL or firewall enforcement in Wine)', async () => {
  const fx = sandboxFixture('elev');
  const { marker, children, backend, plan } = elevatedUnderWine(fx);
  try {
    assert.equal((await backend.planFacts()).groupSid, marker.groupSid, "the facts name the setup's group");
    await assert.rejects(
      backend.spawn(fx.plan, { argv: ['cmd', '/c', 'exit 0'], cwd: fx.ws, stdio: 'pipe' }),
      /not compiled for this machine/,
      'an unelevated plan is refused, not rewritten',
    );
    await assert.rejects(
      backend.spawn(elevatedFixturePlan(fx, marker.groupSid), {
        argv: ['cmd', '/c', 'exit 0'],
        cwd: fx.ws,
        stdio: 'pipe',
      }),
      (e: Error & { code?: string }) => e.code === 'firewall-not-enforced' && /Wine has no firewall/.test(e.message),
      'by default offline is refused while the firewall does not enforce (fail closed; Wine has none)',
    );
    assert.equal(children.length, 0, 'no runner was started for the refused command');
    const proc = await backend.spawn(plan, {
      argv: ['cmd', '/c', 'echo elevated-path & exit 4'],
      cwd: fx.ws,
      stdio: 'pipe',
    });
    const out: Buffer[] = [];
    proc.stdout!.on('data', (b: Buffer) => out.push(b));
    const exit = await proc.exited;
    assert.equal(exit.code, 4);
    assert.match(Buffer.concat(out).toString(), /elevated-path/);
    // Plumbing only (the runner is in libuv's job, which Wine reports as allowing no breakaway): the runner's own
    // UI-limit gap reaches the command's report; this process's own job is not the runner's, so not its cause.
    const problems = (proc.enforcement.problems ?? []).join('\n');
    assert.match(problems, /No job UI limits .*the elevated sandbox runner runs inside the job Secondary Logon/);
    assert.doesNotMatch(problems, /Agent Sandbox itself runs inside a job/);
    assert.match(proc.enforcement.notes.join(' '), /Wine/, 'the process carries what its backend applied');
    const again = await backend.spawn(plan, { argv: ['cmd', '/c', 'exit 0'], cwd: fx.ws, stdio: 'pipe' });
    assert.equal((await again.exited).code, 0);
    assert.equal(children.length, 1, 'one runner serves every command of the session');
    const ledger = JSON.parse(fs.readFileSync(path.join(fx.stateDir, LEDGER_FILE), 'utf8')) as {
      records: { sid: string; path: string }[];
    };
    assert.ok(
      ledger.records.some((r) => r.sid === marker.groupSid && r.path === fx.ws),
      'the group grant on the workspace is in the ledger',
    );
    assert.deepEqual(
      [proc.enforcement.filesystem, proc.enforcement.network],
      ['none', 'none'],
      'under Wine the elevated backend claims no enforcement',
    );
  } finally {
    await backend.dispose();
    fs.rmSync(fx.base, { recursive: true, force: true });
  }
  await new Promise((r) => (children[0].exitCode !== null ? r(null) : children[0].once('exit', r)));
});

test("elevated backend under Wine: a cancelled command exits 137 (128+9), the same code as unelevated Windows and Linux, not the job's own 1 (runner started directly; plumbing only)", async () => {
  const fx = sandboxFixture('elev-cancel');
  const { children, backend, plan } = elevatedUnderWine(fx);
  try {
    const ac = new AbortController();
    const started = Date.now();
    const proc = await backend.spawn(plan, {
      argv: [process.execPath, '-e', 'console.log("up"); setTimeout(() => {}, 60000)'],
      cwd: fx.ws,
      stdio: 'pipe',
      signal: ac.signal,
    });
    proc.stdout!.once('data', () => ac.abort());
    const exit = await proc.exited;
    assert.equal(exit.code, 137, 'a cancel reads like SIGKILL, whatever code the job gave the process');
    assert.equal(exit.signal, 'SIGKILL');
    assert.ok(Date.now() - started < 30_000, 'it did not run its 60 s');
    const own = await backend.spawn(plan, { argv: ['cmd', '/c', 'exit 1'], cwd: fx.ws, stdio: 'pipe' });
    assert.equal((await own.exited).code, 1, 'control: a command that exits 1 by itself still reports 1');
  } finally {
    await backend.dispose();
    fs.rmSync(fx.base, { recursive: true, force: true });
  }
  await new Promise((r) => (children[0].exitCode !== null ? r(null) : children[0].once('exit', r)));
});

test('elevated backend under Wine: a rename onto a protected .git\\config while a command runs is seen by its guard and written again through the ledger; the result says so (runner started directly; plumbing only: Wine stores no ACLs)', async () => {
  const fx = sandboxFixture('elev-guard');
  // A repository before the plan is compiled, so .git\config is protected as a file of its own.
  for (const d of ['.git', '.git\\hooks', '.git\\objects', '.git\\refs']) fs.mkdirSync(path.join(fx.ws, d));
  fs.writeFileSync(path.join(fx.ws, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  const config = path.join(fx.ws, '.git', 'config');
  fs.writeFileSync(config, '[core]\n');
  const { children, backend, plan } = elevatedUnderWine(fx);
  try {
    const proc = await backend.spawn(plan, {
      argv: [process.execPath, '-e', 'console.log("up"); process.stdin.resume()'],
      cwd: fx.ws,
      stdio: 'pipe',
    });
    await new Promise((r) => proc.stdout!.once('data', r));
    fs.writeFileSync(`${config}.lock`, '[core]\n\tbare = false\n');
    fs.renameSync(`${config}.lock`, config);
    await new Promise((r) => setTimeout(r, 1000));
    proc.stdin!.end();
    const exit = await proc.exited;
    assert.equal(exit.code, 0);
    assert.match((exit.guarded ?? []).join('\n'), /\.git\\config.*replaced/i);
  } finally {
    await backend.dispose();
    fs.rmSync(fx.base, { recursive: true, force: true });
  }
  await new Promise((r) => (children[0].exitCode !== null ? r(null) : children[0].once('exit', r)));
});

test('elevated allowlist under Wine: the command runs through the broker with its own credential for the proxy on a pinned loopback port; an allowed name goes through, a denied one is refused and logged (runner started directly; plumbing only: Wine has no firewall, so nothing stops a bypass here)', async () => {
  const fx = sandboxFixture('elev-allow');
  const target = net.createServer((c) => c.end('hello-from-target'));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
  const port = (target.address() as net.AddressInfo).port;
  configureSharedProxy({ resolver: async () => [{ address: '127.0.0.1', family: 4, pinned: true }] });
  const { children, backend, marker } = elevatedUnderWine(fx);
  const plan = compilePlan(
    { workspaceRoots: [fx.ws], network: 'allowlist', allowedDomains: ['allowed.test'], requireEnforcedFirewall: false },
    hostContext({ platform: 'win32', stateDir: fx.stateDir, windowsMode: 'elevated', groupSid: marker.groupSid }),
  );
  const client = `
const net = require('net');
const p = new URL(process.env.HTTPS_PROXY);
const auth = Buffer.from(decodeURIComponent(p.username) + ':' + decodeURIComponent(p.password)).toString('base64');
const go = (host) => new Promise((resolve) => {
  const s = net.connect(Number(p.port), p.hostname, () => s.write('CONNECT ' + host + ':${port} HTTP/1.1\\r\\nProxy-Authorization: Basic ' + auth + '\\r\\n\\r\\n'));
  let got = '';
  s.on('data', (d) => (got += d));
  s.on('close', () => resolve(got.split('\\r\\n')[0] + ' | ' + got.split('\\r\\n\\r\\n').pop()));
  s.on('error', (e) => resolve('error ' + e.code));
});
(async () => { console.log(p.port); console.log(await go('allowed.test')); console.log(await go('denied.test')); })();
`;
  try {
    const proc = await backend.spawn(plan, { argv: [process.execPath, '-e', client], cwd: fx.ws, stdio: 'pipe' });
    const out: Buffer[] = [];
    proc.stdout!.on('data', (b: Buffer) => out.push(b));
    assert.equal((await proc.exited).code, 0);
    const [proxyPort, allowed, denied] = Buffer.concat(out).toString().trim().split(/\r?\n/);
    const last = WINDOWS_PROXY_PORTS.first + 2 * WINDOWS_PROXY_PORTS.pairs - 1;
    assert.ok(Number(proxyPort) >= WINDOWS_PROXY_PORTS.first && Number(proxyPort) <= last, proxyPort);
    assert.match(allowed, /^HTTP\/1\.1 200 .*hello-from-target/);
    assert.match(denied, /^HTTP\/1\.1 403/);
    assert.deepEqual(
      proc.networkDenials!().map((d) => [d.host, d.reason]),
      [['denied.test', 'not-allowed']],
    );
  } finally {
    await backend.dispose();
    configureSharedProxy({});
    target.close();
    fs.rmSync(fx.base, { recursive: true, force: true });
  }
  await new Promise((r) => (children[0].exitCode !== null ? r(null) : children[0].once('exit', r)));
});

test('routing under Wine: without the setup marker loadElevatedBackend is undefined (the unelevated backend runs) and status says setup is needed', async () => {
  const fx = sandboxFixture('route');
  try {
    assert.equal(await loadElevatedBackend({ stateDir: fx.stateDir }), undefined);
    const s = await windowsSandboxStatus({ stateDir: fx.stateDir });
    assert.equal(s.state, 'setup-needed');
    assert.ok(s.users.every((u) => !u.credentials));
  } finally {
    fs.rmSync(fx.base, { recursive: true, force: true });
  }
});
