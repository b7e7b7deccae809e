/**
 * The warm broker's fast client on Linux (`dist/agent-sandbox`: a sh preamble, then Python), end to end: it is served
 * by the broker a cold run left (the broker's own counter says so), the command runs directly on the caller's own
 * descriptors (a file stays that file, a terminal stays a terminal), exit codes and messages are the cold ones,
 * SIGINT cancels the command's tree, a broker killed mid-command gives 125, no broker means a cold run that leaves
 * one, the broker takes exactly three descriptors and keeps none of them, and no sandboxed command reaches it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { brokerDir, frame, FrameReader, socketPath, WARM_PROTOCOL } from '../../../src/protocol/warm';
import { listBrokers, stopBrokers } from '../../../src/sandbox/linux/warm-control';
import { sendFds } from '../../../native-bindings/linux/socket';
import type { BrokerStatus } from '../../../src/protocol/warm';
import { alive, CLI, eventually, NODE, REPO, STATE_DIR, tempDir } from './helpers';
import { brokerFor, hostConnect, sleepers } from './warm-helpers';

const FAST = path.join(REPO, 'dist', 'agent-sandbox');
const ENV: NodeJS.ProcessEnv = {
  ...process.env,
  AGENT_SANDBOX_STATE_DIR: STATE_DIR,
  PATH: `${path.dirname(NODE)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
};

function fast(args: string[], cwd: string, stdio: StdioOptions = 'pipe', env = ENV): SpawnSyncReturns<string> {
  return spawnSync(FAST, ['run', ...args], { cwd, encoding: 'utf8', env, timeout: 60_000, input: '', stdio });
}

function nodeCli(args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(NODE, [CLI, 'run', ...args], { cwd, encoding: 'utf8', env: ENV, timeout: 60_000, input: '' });
}

const served = async (ws: string) => (await brokerFor(ws)).served;

/** A workspace with a broker waiting (left by one cold run of the Node CLI). */
async function warmWorkspace(prefix: string): Promise<{ ws: string; broker: BrokerStatus }> {
  const ws = tempDir(prefix);
  const first = nodeCli(['--', 'true'], ws);
  assert.equal(first.status, 0, first.stderr);
  return { ws, broker: await brokerFor(ws) };
}

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

after(async () => {
  await stopBrokers(STATE_DIR);
});

describe('agent-sandbox run: the fast client (dist/agent-sandbox, linux)', () => {
  it("is served by the broker (its counter), and the command writes straight into the caller's file, not a relay", async () => {
    const { ws } = await warmWorkspace('as-fast-');
    const outFile = path.join(ws, 'out.txt');
    const fd = fs.openSync(outFile, 'w');
    // `ls` lists its own descriptors: 0-2 and the folder it reads, nothing of the broker's or runner's
    const script = 'echo "out $(pwd)"; readlink /proc/self/fd/1; ls /proc/self/fd | tr "\\n" " "; echo err >&2; exit 7';
    let r: SpawnSyncReturns<string>;
    try {
      r = fast(['--', 'sh', '-c', script], ws, ['ignore', fd, 'pipe']);
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(r.status, 7, r.stderr);
    assert.equal(r.stderr, 'err\n');
    assert.equal(
      fs.readFileSync(outFile, 'utf8'),
      `out ${ws}\n${outFile}\n0 1 2 3 `,
      "stdout is the caller's file itself",
    );
    assert.equal(await served(ws), 1, 'the broker counted it');
    // control: the Node client relays (the command's stdout is a socket of the broker's), and is counted as well
    const relayed = nodeCli(['--', 'readlink', '/proc/self/fd/1'], ws);
    assert.equal(relayed.status, 0, relayed.stderr);
    assert.match(relayed.stdout, /^socket:\[\d+\]\n$/);
    assert.equal(await served(ws), 2);
  });

  it('a terminal stays a terminal: with stdout a pty the command sees isatty true (control: a pipe is not)', async () => {
    const { ws } = await warmWorkspace('as-fast-tty-');
    const cmd = `${FAST} run -- sh -c 'test -t 1 && echo IS-A-TTY || echo NOT-A-TTY'`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: ws, encoding: 'utf8', env: ENV, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /IS-A-TTY/);
    assert.equal(await served(ws), 1, 'served by the broker, not cold');
    const piped = fast(['--', 'sh', '-c', 'test -t 1 && echo IS-A-TTY || echo NOT-A-TTY'], ws);
    assert.equal(piped.stdout, 'NOT-A-TTY\n');
    assert.equal(await served(ws), 2);
  });

  it('exit codes and messages as cold: 0, 7, 124 on --timeout, 128+N for signal N', async () => {
    const { ws } = await warmWorkspace('as-fast-codes-');
    assert.equal(fast(['--', 'true'], ws).status, 0);
    assert.equal(fast(['--', 'sh', '-c', 'exit 7'], ws).status, 7);
    assert.equal(fast(['--', 'sh', '-c', 'kill -TERM $$'], ws).status, 143);
    const t = fast(['--timeout', '1', '--', 'sleep', '319'], ws);
    assert.equal(t.status, 124);
    assert.equal(t.stderr, 'agent-sandbox: timed out after 1s; the command was killed.\n');
    assert.equal(await served(ws), 4, 'all four were brokered');
    assert.ok(await eventually(() => sleepers('319').length === 0), 'the timed-out command is gone');
    const cold = nodeCli(['--no-broker', '--timeout', '1', '--', 'sleep', '319'], ws);
    assert.deepEqual([cold.status, cold.stderr], [t.status, t.stderr], 'control: cold says the same');
  });

  it('SIGINT to the fast client cancels the command and its whole tree (setsid included), exiting as cold', async () => {
    const { ws } = await warmWorkspace('as-fast-sig-');
    const codes: (number | null)[] = [];
    for (const [file, args] of [
      [FAST, ['run']],
      [NODE, [CLI, 'run', '--no-broker']],
    ] as const) {
      const child = spawn(file, [...args, '--', 'sh', '-c', 'setsid sleep 326 & echo up; exec sleep 327'], {
        cwd: ws,
        env: ENV,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      await new Promise<void>((res) => child.stdout.on('data', (d: Buffer) => d.toString().includes('up') && res()));
      assert.ok(
        await eventually(() => sleepers('326').length === 1 && sleepers('327').length === 1),
        'control: both run',
      );
      child.kill('SIGINT');
      codes.push(await new Promise<number | null>((res) => child.once('exit', (c) => res(c))));
      assert.ok(
        await eventually(() => sleepers('326').length === 0 && sleepers('327').length === 0),
        `tree gone (${file})`,
      );
    }
    assert.equal(codes[0], codes[1], 'fast and cold exit alike');
    assert.equal(await served(ws), 1, 'the fast one was brokered');
  });

  it('a broker killed mid-command ends the call with 125 (no hang), and the command dies with it', async () => {
    const { ws, broker } = await warmWorkspace('as-fast-kill-');
    const child = spawn(FAST, ['run', '--', 'sh', '-c', 'echo up; exec sleep 325'], {
      cwd: ws,
      env: ENV,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((res) => child.stdout.on('data', (d: Buffer) => d.toString().includes('up') && res()));
    assert.ok(await eventually(() => sleepers('325').length === 1), 'control: the command runs');
    assert.equal((await brokerFor(ws)).active, 1, 'control: served by the broker');
    process.kill(broker.pid, 'SIGKILL');
    const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    assert.equal(code, 125);
    assert.match(stderr, /broker ended before the command did/);
    assert.ok(await eventually(() => sleepers('325').length === 0), 'the command died with its broker');
  });

  it('no broker: the call runs cold through node (same output) and leaves a broker that serves the next call', async () => {
    const ws = tempDir('as-fast-cold-');
    assert.equal((await listBrokers(STATE_DIR)).filter((l) => l.status?.workspaceRoots.includes(ws)).length, 0);
    const r = fast(['--', 'sh', '-c', 'echo first; exit 5'], ws);
    assert.deepEqual([r.status, r.stdout], [5, 'first\n'], r.stderr);
    const broker = await brokerFor(ws);
    assert.equal(broker.served, 0, 'the first call was cold');
    const again = fast(['--', 'sh', '-c', 'echo second'], ws);
    assert.deepEqual([again.status, again.stdout], [0, 'second\n'], again.stderr);
    assert.equal(await served(ws), 1, 'the fast client found the broker the cold run left (same key)');
    // Options the fast client does not parse go cold through node, with node's answer.
    const bad = fast(['--bogus', '--', 'true'], ws);
    assert.equal(bad.status, 2);
    assert.equal(await served(ws), 1);
  });

  it("a sandboxed command run through the fast client cannot reach its broker's socket; the host can", async () => {
    const { ws, broker } = await warmWorkspace('as-fast-sock-');
    const own = socketPath(brokerDir(), broker.key);
    const probe = `${NODE} -e "require('net').connect('${own}').on('connect',()=>{console.log('CONNECTED');process.exit()}).on('error',e=>console.log('ERR '+e.code))"`;
    const r = fast(['--', 'sh', '-c', probe], ws);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ERR ENOENT\n');
    assert.equal(await served(ws), 1);
    const host = await hostConnect(own);
    assert.equal(host, 'CONNECTED', 'control: the socket is live on the host');
  });

  it('the broker takes exactly three descriptors after the hello, and keeps none: its descriptor count is unchanged after calls', async () => {
    const { ws, broker } = await warmWorkspace('as-fast-fds-');
    assert.equal(fast(['--', 'true'], ws).status, 0); // any descriptor the first call opens for good (koffi) is open now
    // The count once that call's own descriptors (its connection, its command's) are gone: the lowest seen for 1 s.
    let before = fdCount(broker.pid);
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      before = Math.min(before, fdCount(broker.pid));
    }
    for (let i = 0; i < 8; i++) {
      const r = fast(['--', 'sh', '-c', `exit ${i}`], ws, 'pipe', { ...ENV, AGENT_SANDBOX_BROKER: 'report' });
      assert.equal(r.status, i);
      assert.equal(r.stderr, '', 'served warm');
    }
    assert.equal(fast(['--timeout', '1', '--', 'sleep', '30'], ws).status, 124);
    assert.equal(await served(ws), 10);
    // A client that sends four descriptors, or three without the hello's plan hash, is refused and given nothing back.
    const offer = (fds: number[], planHash = broker.planHash) =>
      new Promise<string>((resolve) => {
        const c = net.connect(socketPath(brokerDir(), broker.key));
        const hello = {
          v: WARM_PROTOCOL,
          key: broker.key,
          planHash,
          policyArgs: [],
          cwd: ws,
          env: ENV,
          argv: ['true'],
          fds: true,
        };
        const reader = new FrameReader((type, payload) => {
          if (type === 'F') {
            const fd = (c as unknown as { _handle: { fd: number } })._handle.fd;
            sendFds(fd, Buffer.from('F'), fds);
          } else {
            c.destroy();
            resolve(`${type} ${payload.toString()}`);
          }
        });
        c.on('data', (d: Buffer) => reader.push(d));
        c.on('connect', () => c.write(frame('H', JSON.stringify(hello))));
        c.on('error', (e) => resolve(e.message));
        c.on('close', () => resolve('closed'));
      });
    const devnull = fs.openSync('/dev/null', 'r+');
    try {
      assert.match(await offer([devnull, devnull, devnull, devnull]), /^R .*at most 3 accepted/);
      assert.match(await offer([devnull, devnull]), /^R .*three descriptors, got 2/);
      assert.match(await offer([devnull, devnull, devnull], 'f'.repeat(32)), /^R .*another plan/);
      assert.match(await offer([devnull, devnull, devnull]), /^A /, 'control: three descriptors are accepted');
    } finally {
      fs.closeSync(devnull);
    }
    const kept = await eventually(() => fdCount(broker.pid) <= before, 5000);
    assert.ok(kept, `no descriptor kept (${before} before, ${fdCount(broker.pid)} after)`);
    assert.ok(alive(broker.pid));
  });
  it("a cold call through the launcher: the CLI's Node skips parsing NODE_EXTRA_CA_CERTS, the command still gets the caller's value (control: dist/cli.js parses it)", () => {
    const ws = tempDir('as-fast-ca-');
    // A bundle Node cannot load makes it say so on stderr at start-up: the effect of the parse, visible.
    const ca = path.join(ws, 'no-such-ca.pem');
    const env = { ...ENV, NODE_EXTRA_CA_CERTS: ca, AGENT_SANDBOX_BROKER: '0' };
    const show = [
      '--',
      'sh',
      '-c',
      'printf "%s|%s" "$NODE_EXTRA_CA_CERTS" "${AGENT_SANDBOX_CALLER_NODE_EXTRA_CA_CERTS-unset}"',
    ];
    const r = spawnSync(FAST, ['run', ...show], { cwd: ws, encoding: 'utf8', env, timeout: 60_000, input: '' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${ca}|unset`);
    assert.doesNotMatch(r.stderr, /Ignoring extra certs/);
    // Control: the CLI's Node started directly parses the variable (and the command gets the same value).
    const c = spawnSync(NODE, [CLI, 'run', ...show], { cwd: ws, encoding: 'utf8', env, timeout: 60_000, input: '' });
    assert.equal(c.status, 0, c.stderr);
    assert.equal(c.stdout, `${ca}|unset`);
    assert.match(c.stderr, /Ignoring extra certs/);
  });
  it("the command gets the caller's LC_CTYPE, unset or set, not the one Python's locale coercion makes (control: a bare python3 -I coerces)", async () => {
    const ws = tempDir('as-fast-lc-');
    const bare: NodeJS.ProcessEnv = {
      PATH: ENV.PATH,
      HOME: process.env.HOME,
      AGENT_SANDBOX_STATE_DIR: STATE_DIR,
      AGENT_SANDBOX_BROKER: 'report',
    };
    const first = spawnSync(NODE, [CLI, 'run', '--', 'true'], { cwd: ws, encoding: 'utf8', env: bare, input: '' });
    assert.equal(first.status, 0, first.stderr);
    await brokerFor(ws);
    const show = ['--', 'sh', '-c', 'printf "%s|%s" "${LC_CTYPE-unset}" "${AGENT_SANDBOX_CALLER_LC_CTYPE-none}"'];
    const unset = fast(show, ws, 'pipe', bare);
    assert.equal(unset.stderr, '', 'served warm');
    assert.equal(unset.stdout, 'unset|none');
    const c = fast(show, ws, 'pipe', { ...bare, LC_CTYPE: 'C' });
    assert.equal(c.stderr, '', 'served warm');
    assert.equal(c.stdout, 'C|none');
    assert.equal(await served(ws), 2);
    // Control: what the client's Python does to its own environment unless undone.
    const py = spawnSync('/usr/bin/python3', ['-I', '-S', '-c', 'import os; print(os.environ.get("LC_CTYPE"))'], {
      encoding: 'utf8',
      env: { PATH: ENV.PATH, LC_CTYPE: 'C' },
    });
    assert.equal(py.stdout.trim(), 'C.UTF-8', 'control: Python coerces the C locale');
  });
  it('a working folder deleted under the caller: the launcher does not crash but hands the call to the CLI, which refuses with the reason (125)', async () => {
    await warmWorkspace('as-fast-cwd-'); // a broker record exists, so the Python client runs
    const gone = tempDir('as-fast-gone-');
    const r = spawnSync('sh', ['-c', 'cd "$D" && rmdir "$D" && exec "$FAST" run -- echo ran'], {
      encoding: 'utf8',
      env: { ...ENV, D: gone, FAST, AGENT_SANDBOX_BROKER: 'report' },
      timeout: 60_000,
    });
    assert.equal(r.status, 125, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /broker: failed \(.*\); running cold/, 'the Python client went cold');
    assert.match(r.stderr, /working folder this command was started from no longer exists/);
    assert.doesNotMatch(r.stderr, /Traceback|uv_cwd\n\s+at /);
  });
});
