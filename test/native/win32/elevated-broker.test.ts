// Wine tier: the runner broker end to end between two Wine node.exe processes over real named pipes. The runner
// is started directly (CreateProcessWithLogonW fails under Wine), so it runs as the same Wine user. Wine stores
// but does not enforce the pipe DACL, and drops the restricted token's restricting SIDs: these tests check the
// protocol, the client-pid check, stdio, exit codes and teardown, never isolation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { ownSid } from './fixture';
import {
  BrokerClient,
  type BrokerPipes,
  type RemoteCommand,
} from '../../../src/sandbox/windows/elevated/broker-client';
import { SandboxError } from '../../../src/errors';

const RUNNER = path.join(__dirname, '..', '..', '..', 'src', 'runner', 'windows', 'entry.js');
const TOKEN = {
  flags: 0x1 | 0x4 | 0x8,
  restrictingSids: ['logon', 'S-1-1-0'],
  keepPrivileges: ['SeChangeNotifyPrivilege'],
  defaultDacl: [{ sid: 'logon', mask: 0x10000000 }],
};

const BUNDLED_RUNNER = path.join(__dirname, '..', '..', '..', '..', 'dist', 'runner.js');

/** Starts the runner as a plain child (stdio ignored: node.exe under Wine dies when its stdout is a pipe). */
function directLauncher(children: ChildProcess[], pidOffset = 0, script = RUNNER) {
  return async (pipes: BrokerPipes) => {
    const child = spawn(
      process.execPath,
      [script, '--broker', '--requests', pipes.requests, '--events', pipes.events],
      { stdio: 'ignore' },
    );
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    return { pid: child.pid! + pidOffset };
  };
}

async function collect(cmd: RemoteCommand) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  cmd.stdout.on('data', (b: Buffer) => out.push(b));
  cmd.stderr.on('data', (b: Buffer) => err.push(b));
  const code = await cmd.exited;
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

const spawnReq = (argv: string[]) => ({
  argv,
  cwd: os.tmpdir(),
  env: { ...process.env } as Record<string, string>,
  token: TOKEN,
});

test('broker under Wine: runner started directly, client pid checked, commands run with output and exit codes (DACL and restricted token not enforced by Wine)', async () => {
  const children: ChildProcess[] = [];
  const broker = await BrokerClient.start(ownSid(), directLauncher(children), 20_000);
  try {
    assert.equal(broker.runnerPid, children[0].pid);
    // Plumbing only: libuv starts the runner in its job and Wine answers the job's limit query with zeros (no
    // breakaway), so the runner cannot set UI limits here, like under Secondary Logon's job, and says so in its
    // ready message.
    assert.equal(broker.uiGaps.length, 1);
    assert.match(broker.uiGaps[0], /sandbox runner runs inside the job Secondary Logon started it in/);
    const hello = await collect(broker.spawn(spawnReq(['cmd', '/c', 'echo hello-broker'])));
    assert.equal(hello.code, 0);
    assert.match(hello.stdout, /hello-broker/);
    const [seven, three] = await Promise.all([
      collect(broker.spawn(spawnReq(['cmd', '/c', 'exit 7']))),
      collect(broker.spawn(spawnReq(['cmd', '/c', 'echo to-stderr 1>&2 & exit 3']))),
    ]);
    assert.equal(seven.code, 7);
    assert.equal(three.code, 3);
    assert.match(three.stderr, /to-stderr/);
  } finally {
    await broker.close();
  }
  const [code] = await new Promise<[number | null]>((r) => children[0].once('exit', (c) => r([c])));
  assert.equal(code, 0, 'the runner exits once the request pipe closes');
});

test('broker under Wine: stdin is forwarded, terminate stops a waiting command, a terminal runs under ConPTY (exit code only: Wine routes no pty output), a missing program is an error frame', async () => {
  const children: ChildProcess[] = [];
  const broker = await BrokerClient.start(ownSid(), directLauncher(children), 20_000);
  try {
    const echo = broker.spawn(spawnReq(['cmd', '/c', 'set /p LINE= & call echo got:%LINE%']));
    echo.stdin.end('piped-line\r\n');
    const got = await collect(echo);
    assert.match(got.stdout, /got:piped-line/);

    const waiting = broker.spawn(spawnReq(['cmd', '/c', 'pause']));
    const started = Date.now();
    const exited = collect(waiting);
    setTimeout(() => waiting.terminate(), 400);
    const t = await exited;
    assert.ok(Date.now() - started >= 350, 'pause waited for the terminate request');
    assert.equal(t.code, 1);

    // A terminal request goes through a pseudoconsole. Wine attaches the child to it but does not route the
    // child's output through it, so only the exit code and the end of the output stream are checked here.
    const tty = await collect(broker.spawn({ ...spawnReq(['cmd', '/c', 'exit 6']), tty: { cols: 80, rows: 25 } }));
    assert.equal(tty.code, 6);

    const missing = await collect(broker.spawn(spawnReq(['no-such-program-xyz'])));
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /command not found/);
  } finally {
    await broker.close();
  }
});

test('broker under Wine: a pipe client that is not the launched runner is refused (GetNamedPipeClientProcessId)', async () => {
  const children: ChildProcess[] = [];
  await assert.rejects(
    BrokerClient.start(ownSid(), directLauncher(children, 100_000), 20_000),
    (e: unknown) => e instanceof SandboxError && e.code === 'broker-failed' && /not by the runner/.test(e.message),
  );
  await new Promise((r) => (children[0].exitCode !== null ? r(null) : children[0].once('exit', r)));
});

test('broker under Wine: the bundled dist/runner.js dispatches to the Windows broker; an idle broker notices its runner is gone', async () => {
  const children: ChildProcess[] = [];
  const broker = await BrokerClient.start(ownSid(), directLauncher(children, 0, BUNDLED_RUNNER), 20_000);
  try {
    const r = await collect(broker.spawn(spawnReq(['cmd', '/c', 'echo from-bundle'])));
    assert.equal(r.code, 0);
    assert.match(r.stdout, /from-bundle/);
    assert.equal(broker.alive, true);
    children[0].kill();
    await new Promise((res) => children[0].once('exit', res));
    assert.equal(broker.alive, false, 'a dead runner is detected without a pending read');
    assert.throws(
      () => broker.spawn(spawnReq(['cmd', '/c', 'echo never'])),
      (e: unknown) => e instanceof SandboxError && e.code === 'broker-failed',
    );
  } finally {
    await broker.close();
  }
});

test('broker under Wine: a broker that fails closes its request pipe, so the runner stops the command it reported as stopped and exits', async () => {
  const children: ChildProcess[] = [];
  const broker = await BrokerClient.start(ownSid(), directLauncher(children), 20_000);
  const runnerExit = new Promise<number | null>((r) => children[0].once('exit', (c) => r(c)));
  const long = collect(broker.spawn(spawnReq(['C:\\windows\\system32\\ping.exe', '-n', '60', '127.0.0.1'])));
  await new Promise((r) => setTimeout(r, 1000));
  // The failure path the event reader takes on a broken stream (private; called directly to make it happen now).
  (broker as unknown as { fail(reason: string): void }).fail('injected failure');
  const r = await long;
  assert.equal(r.code, 125);
  assert.match(r.stderr, /injected failure; the command was stopped/);
  // Its exit code is not the point (its event pipe is no longer read): that it ends, long before the command would.
  const t0 = Date.now();
  await runnerExit;
  assert.ok(
    Date.now() - t0 < 30_000,
    'the runner saw its request stream end and exited, well before the 60 s command would have',
  );
  await broker.close();
});
