/**
 * `agent-sandbox run`'s warm broker on Linux, end to end through dist/cli.js: a cold run leaves a broker, the next
 * run is served by it (proven by the broker's own counter), a policy change gets a new broker, idle brokers exit,
 * stale sockets are recovered, a broker killed mid-command gives 125 and no hang, 20 concurrent calls are each
 * answered correctly, Ctrl-C and timeouts end the whole tree (setsid survivors included), no sandboxed command can
 * reach a broker's socket, and another user cannot use (or be served by) someone's broker.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { brokerDir, socketPath } from '../../../src/protocol/warm';
import { listBrokers, stopBrokers } from '../../../src/sandbox/linux/warm-control';
import type { BrokerStatus } from '../../../src/protocol/warm';
import { alive, CLI, eventually, heartbeatStopped, NODE, STATE_DIR, tempDir } from './helpers';
import { brokerFor, hostConnect, sleepers } from './warm-helpers';

const ENV = { ...process.env, AGENT_SANDBOX_STATE_DIR: STATE_DIR };

function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = ENV): SpawnSyncReturns<string> {
  return spawnSync(NODE, [CLI, 'run', ...args], { cwd, encoding: 'utf8', env, timeout: 60_000, input: '' });
}

async function served(ws: string): Promise<number> {
  return (await brokerFor(ws)).served;
}

/** A workspace with a broker already waiting (one cold run made it). */
async function warmWorkspace(
  prefix: string,
  env = ENV,
  args: (ws: string) => string[] = () => [],
): Promise<{ ws: string; broker: BrokerStatus }> {
  const ws = tempDir(prefix);
  const first = cli([...args(ws), '--', 'true'], ws, env);
  assert.equal(first.status, 0, first.stderr);
  return { ws, broker: await brokerFor(ws, 15_000, undefined, env.AGENT_SANDBOX_STATE_DIR) };
}

after(async () => {
  await stopBrokers(STATE_DIR);
});

describe('agent-sandbox run: warm broker (linux)', () => {
  it('the second run is served by the broker the first left behind (its own counter says so), with output, exit code, env and cwd as cold', async () => {
    const { ws, broker } = await warmWorkspace('as-warm-', ENV, (w) => ['--workspace', w]);
    assert.equal(broker.served, 0, 'the first run was cold');
    fs.mkdirSync(path.join(ws, 'sub'));
    const env = { ...ENV, MY_VAR: 'kept', MY_API_KEY: 'scrubbed' };
    const r = spawnSync(
      NODE,
      [
        CLI,
        'run',
        '--workspace',
        ws,
        '--',
        'sh',
        '-c',
        'echo "out $MY_VAR ${MY_API_KEY:-none} $(pwd)"; cat; echo err >&2; exit 7',
      ],
      { cwd: path.join(ws, 'sub'), encoding: 'utf8', env, input: 'from stdin\n', timeout: 60_000 },
    );
    assert.equal(r.status, 7, r.stderr);
    assert.equal(r.stdout, `out kept none ${ws}/sub\nfrom stdin\n`);
    assert.equal(r.stderr, 'err\n');
    assert.equal(await served(ws), 1, 'the broker counted the second run');
    const cold = spawnSync(
      NODE,
      [
        CLI,
        'run',
        '--no-broker',
        '--workspace',
        ws,
        '--',
        'sh',
        '-c',
        'echo "out $MY_VAR ${MY_API_KEY:-none} $(pwd)"; cat; echo err >&2; exit 7',
      ],
      { cwd: path.join(ws, 'sub'), encoding: 'utf8', env, input: 'from stdin\n', timeout: 60_000 },
    );
    assert.deepEqual([cold.status, cold.stdout, cold.stderr], [r.status, r.stdout, r.stderr], 'cold gives the same');
    assert.equal(await served(ws), 1, 'control: --no-broker did not use it');
    // Writes are confined as in a cold run.
    const w = cli(['--workspace', ws, '--', 'sh', '-c', 'echo x > in.txt; echo y > /var/tmp/as-warm-outside-$$'], ws);
    assert.notEqual(w.status, 0);
    assert.match(w.stderr, /Read-only file system/);
    assert.equal(fs.readFileSync(path.join(ws, 'in.txt'), 'utf8'), 'x\n');
    assert.equal(await served(ws), 2);
  });

  it('exit codes as cold: 128+N for a command killed by signal N, 2 for bad arguments (which never reach the broker)', async () => {
    const { ws } = await warmWorkspace('as-warm-codes-');
    assert.equal(cli(['--', 'sh', '-c', 'kill -TERM $$'], ws).status, 143);
    assert.equal(cli(['--', 'sh', '-c', 'kill -KILL $$'], ws).status, 137);
    assert.equal(await served(ws), 2);
    const bad = cli(['--timeout', 'soon', '--', 'true'], ws);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--timeout must be a positive number/);
    assert.equal(
      cli(['--no-broker', '--', 'sh', '-c', 'kill -TERM $$'], ws).status,
      143,
      'control: cold says the same',
    );
    assert.equal(await served(ws), 2);
  });

  it('a changed policy file gets a new broker, and the old one exits', async () => {
    const ws = tempDir('as-warm-pol-');
    const policy = path.join(ws, 'policy.json');
    fs.writeFileSync(policy, JSON.stringify({ workspaceRoots: [ws] }));
    const args = [
      '--policy-file',
      policy,
      '--',
      'sh',
      '-c',
      'touch probe.txt 2>/dev/null && echo WRITABLE || echo READ-ONLY',
    ];
    assert.equal(cli(args, ws).status, 0);
    const first = await brokerFor(ws);
    assert.equal(cli(args, ws).stdout, 'WRITABLE\n');
    assert.equal((await brokerFor(ws)).served, 1);
    fs.writeFileSync(policy, JSON.stringify({ workspaceRoots: [ws], mode: 'read-only' }));
    const r = cli(args, ws);
    assert.equal(r.stdout, 'READ-ONLY\n', 'the new policy (read-only) applied at once');
    const second = await brokerFor(ws, 15_000, first.pid);
    assert.notEqual(second.pid, first.pid);
    assert.ok(await eventually(() => !alive(first.pid), 10_000), 'the old broker exited');
    assert.equal(cli(args, ws).stdout, 'READ-ONLY\n');
    assert.equal((await brokerFor(ws)).served, 1, 'the new broker served the next run');
  });

  it('an idle broker exits after AGENT_SANDBOX_BROKER_IDLE seconds and removes its socket', async () => {
    const env = { ...ENV, AGENT_SANDBOX_BROKER_IDLE: '1' };
    const { broker } = await warmWorkspace('as-warm-idle-', env);
    assert.ok(await eventually(() => !alive(broker.pid), 10_000), 'the broker exited');
    assert.equal(fs.existsSync(socketPath(brokerDir(), broker.key)), false);
  });

  it('a stale socket (its broker killed) is removed, the run goes cold and succeeds, and a new broker takes over', async () => {
    const { ws, broker } = await warmWorkspace('as-warm-stale-');
    process.kill(broker.pid, 'SIGKILL');
    assert.ok(await eventually(() => !alive(broker.pid)));
    assert.ok(fs.existsSync(socketPath(brokerDir(), broker.key)), 'control: the socket file was left behind');
    const r = cli(['--', 'sh', '-c', 'echo recovered'], ws);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'recovered\n');
    const next = await brokerFor(ws, 15_000, broker.pid);
    assert.equal(next.served, 0);
    assert.equal(cli(['--', 'true'], ws).status, 0);
    assert.equal(await served(ws), 1);
  });

  it('a broker killed mid-command ends the call with 125 (no hang) and takes the command with it', async () => {
    const { ws, broker } = await warmWorkspace('as-warm-kill-');
    const child = spawn(NODE, [CLI, 'run', '--', 'sh', '-c', 'echo up; exec sleep 315'], {
      cwd: ws,
      env: ENV,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((res) => child.stdout.on('data', (d: Buffer) => d.toString().includes('up') && res()));
    // "up" is printed just before the exec: wait for the sleep itself
    assert.ok(await eventually(() => sleepers('315').length === 1), 'control: the command runs');
    process.kill(broker.pid, 'SIGKILL');
    const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    assert.equal(code, 125);
    assert.match(stderr, /broker ended before the command did/);
    assert.ok(await eventually(() => sleepers('315').length === 0), 'the command died with its broker');
  });

  it('20 concurrent runs on one broker each get their own output and exit code', async () => {
    const { ws } = await warmWorkspace('as-warm-par-');
    const runs = Array.from(
      { length: 20 },
      (_, i) =>
        new Promise<{ i: number; code: number | null; out: string }>((res) => {
          const c = spawn(
            NODE,
            [CLI, 'run', '--', 'sh', '-c', `echo start ${i}; sleep 0.$((${i} % 5)); echo end ${i}; exit ${i}`],
            { cwd: ws, env: ENV, stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.once('close', (code) => res({ i, code, out }));
        }),
    );
    for (const r of await Promise.all(runs)) {
      assert.equal(r.code, r.i);
      assert.equal(r.out, `start ${r.i}\nend ${r.i}\n`);
    }
    assert.equal(await served(ws), 20, 'all 20 were served by the broker');
  });

  it('SIGINT to the CLI cancels the brokered command and its whole tree (setsid included), with the cold exit code', async () => {
    const { ws } = await warmWorkspace('as-warm-sig-');
    const codes: (number | null)[] = [];
    for (const extra of [[], ['--no-broker']]) {
      const child = spawn(
        NODE,
        [CLI, 'run', ...extra, '--', 'sh', '-c', 'setsid sleep 316 & echo up; exec sleep 317'],
        { cwd: ws, env: ENV, stdio: ['pipe', 'pipe', 'inherit'] },
      );
      await new Promise<void>((res) => child.stdout.on('data', (d: Buffer) => d.toString().includes('up') && res()));
      assert.ok(
        await eventually(() => sleepers('316').length === 1 && sleepers('317').length === 1),
        'control: both run',
      );
      child.kill('SIGINT');
      codes.push(await new Promise<number | null>((res) => child.once('exit', (c) => res(c))));
      assert.ok(
        await eventually(() => sleepers('316').length === 0 && sleepers('317').length === 0),
        `tree gone (${extra.join(' ') || 'warm'})`,
      );
    }
    assert.equal(codes[0], codes[1], 'warm and cold exit alike');
    assert.equal(await served(ws), 1, 'the first was brokered');
  });

  it('--timeout kills a brokered command and its setsid daemon that cleared AGENT_SANDBOX_COMMAND_ID, and exits 124', async () => {
    const { ws } = await warmWorkspace('as-warm-to-');
    const r = cli(
      [
        '--timeout',
        '1',
        '--',
        'sh',
        '-c',
        "setsid sh -c 'unset AGENT_SANDBOX_COMMAND_ID; while :; do date +%s%N > beat; sleep 0.05; done' & sleep 318",
      ],
      ws,
    );
    assert.equal(r.status, 124);
    assert.match(r.stderr, /timed out after 1s/);
    assert.equal(await served(ws), 1);
    assert.ok(fs.existsSync(path.join(ws, 'beat')), 'control: the daemon ran');
    assert.ok(await heartbeatStopped(path.join(ws, 'beat')), 'the setsid daemon survived the timeout');
  });

  it("a sandboxed command (warm or cold) cannot reach its own or another broker's socket; the host can", async () => {
    const a = await warmWorkspace('as-warm-sock-a-');
    const b = await warmWorkspace('as-warm-sock-b-');
    const own = socketPath(brokerDir(), a.broker.key);
    const other = socketPath(brokerDir(), b.broker.key);
    const probe = (sock: string) =>
      `${NODE} -e "require('net').connect('${sock}').on('connect',()=>{console.log('CONNECTED');process.exit()}).on('error',e=>console.log('ERR '+e.code))"`;
    const script = `${probe(own)}; ${probe(other)}; ls ${brokerDir()} 2>&1 | head -1`;
    for (const extra of [[], ['--no-broker']]) {
      const r = cli([...extra, '--', 'sh', '-c', script], a.ws);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /CONNECTED/);
      assert.equal((r.stdout.match(/ERR ENOENT/g) ?? []).length, 2, r.stdout);
      assert.match(r.stdout, /No such file or directory/);
    }
    assert.equal(await served(a.ws), 1, 'the first probe was brokered');
    const host = await hostConnect(own);
    assert.equal(host, 'CONNECTED', 'control: the socket is live on the host');
    // A writable folder inside the broker folder would bind it back into the sandbox: refused, nothing runs.
    const inside = fs.mkdtempSync(path.join(brokerDir(), 'x-'));
    try {
      const r = cli(['--write', inside, '--', 'sh', '-c', 'echo ran > ran.txt'], a.ws);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /where your warm brokers listen/);
      assert.equal(fs.existsSync(path.join(a.ws, 'ran.txt')), false);
    } finally {
      fs.rmSync(inside, { recursive: true, force: true });
    }
  });

  it(
    "another user can neither reach this user's broker nor be served by it, nor serve it (SO_PEERCRED) (needs root to create a test user)",
    { skip: process.getuid?.() !== 0 && 'creating a test user needs root' },
    async () => {
      const user = `astest${process.pid % 100000}`;
      const add = spawnSync('useradd', ['--create-home', '--shell', '/bin/sh', user], { encoding: 'utf8' });
      assert.equal(add.status, 0, add.stderr);
      const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout);
      const gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout);
      try {
        const { broker } = await warmWorkspace('as-warm-user-');
        const own = socketPath(brokerDir(), broker.key);
        const connect = (sock: string, as: { uid: number; gid: number } | undefined) =>
          spawnSync(
            NODE,
            [
              '-e',
              `const c=require('net').connect(${JSON.stringify(sock)});c.on('connect',()=>c.write(Buffer.from([81,0,0,0,0])));` +
                'c.on("data",d=>{console.log("ANSWER "+d[0]);process.exit()});c.on("close",()=>console.log("CLOSED"));c.on("error",e=>console.log("ERR "+e.code))',
            ],
            { encoding: 'utf8', timeout: 20_000, ...(as ?? {}) },
          );
        const theirs = connect(own, { uid, gid });
        assert.match(theirs.stdout, /ERR EACCES/, theirs.stdout + theirs.stderr);
        assert.match(connect(own, undefined).stdout, /ANSWER 84/, 'control: the owner gets a status answer (T)');
        // Their own broker, made by their own cold run in their own workspace; root (which passes any folder
        // permission) is then refused by that broker's SO_PEERCRED check.
        const home = path.join('/home', user);
        const theirWs = fs.mkdtempSync(path.join(home, 'ws-'));
        fs.chownSync(theirWs, uid, gid);
        const theirEnv = {
          PATH: process.env.PATH,
          HOME: home,
          USER: user,
          AGENT_SANDBOX_STATE_DIR: path.join(home, 'state'),
        };
        const run = spawnSync(NODE, [CLI, 'run', '--', 'true'], {
          cwd: theirWs,
          encoding: 'utf8',
          env: theirEnv,
          uid,
          gid,
          timeout: 60_000,
          input: '',
        });
        assert.equal(run.status, 0, `the test user's own cold run: ${run.stderr}`);
        const dir = `/tmp/agent-sandbox-${uid}`;
        assert.ok(
          await eventually(() => fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('.sock')), 15_000),
          'their broker listens',
        );
        const stat = fs.statSync(dir);
        assert.deepEqual([stat.uid, stat.mode & 0o777], [uid, 0o700]);
        const theirSock = path.join(
          dir,
          fs.readdirSync(dir).find((f) => f.endsWith('.sock'))!,
        );
        const rootAsks = connect(theirSock, undefined);
        assert.match(rootAsks.stdout, /CLOSED/, rootAsks.stdout);
        assert.doesNotMatch(rootAsks.stdout, /ANSWER/, 'root was refused by SO_PEERCRED');
        const theyAsk = connect(theirSock, { uid, gid });
        assert.match(theyAsk.stdout, /ANSWER 84/, 'control: their broker answers them');
      } finally {
        spawnSync('pkill', ['-KILL', '-u', user]);
        spawnSync('userdel', ['--remove', user]);
        fs.rmSync(`/tmp/agent-sandbox-${uid}`, { recursive: true, force: true });
      }
    },
  );
});

describe('agent-sandbox broker status|stop and uninstall (linux)', () => {
  it('status lists the broker with its counter; stop ends it; uninstall stops brokers too', async () => {
    const { ws, broker } = await warmWorkspace('as-warm-ctl-');
    const status = spawnSync(NODE, [CLI, 'broker', 'status'], { encoding: 'utf8', env: ENV });
    assert.equal(status.status, 0);
    assert.match(status.stdout, new RegExp(`pid ${broker.pid}: ${ws}, offline; 0 command\\(s\\) served`));
    const stop = spawnSync(NODE, [CLI, 'broker', 'stop'], { encoding: 'utf8', env: ENV });
    assert.equal(stop.status, 0, stop.stderr);
    assert.ok(!alive(broker.pid), 'stopped');
    const again = await warmWorkspace('as-warm-un-', { ...ENV, AGENT_SANDBOX_STATE_DIR: tempDir('as-warm-un-state-') });
    const un = spawnSync(NODE, [CLI, 'uninstall'], {
      encoding: 'utf8',
      env: { ...ENV, AGENT_SANDBOX_STATE_DIR: again.broker.stateDir },
    });
    assert.equal(un.status, 0, un.stderr);
    assert.match(un.stdout, /stopped 1 warm broker/);
    assert.ok(!alive(again.broker.pid));
  });

  it('uninstall right after a cold run also ends the broker still starting, and nothing comes back in the workspace', async () => {
    const ws = tempDir('as-warm-race-');
    const state = tempDir('as-warm-race-state-');
    const env = { ...ENV, AGENT_SANDBOX_STATE_DIR: state };
    assert.equal(cli(['--', 'true'], ws, env).status, 0);
    // The cold run's own placeholders went with it; the broker it left is what could bring them back.
    assert.notDeepEqual(daemonsOf(state), [], 'control: the run left a broker starting');
    const un = spawnSync(NODE, [CLI, 'uninstall'], { encoding: 'utf8', env });
    assert.equal(un.status, 0, un.stderr);
    await new Promise((res) => setTimeout(res, 3000));
    assert.deepEqual(fs.readdirSync(ws), [], 'the workspace is as before');
    assert.deepEqual(
      (await listBrokers(state)).filter((l) => l.status),
      [],
    );
    assert.deepEqual(daemonsOf(state), [], 'no broker of that state folder is left');
  });
});

describe('agent-sandbox uninstall while a warm broker is exiting (linux)', () => {
  it('uninstall waits for a broker that stopped listening but still finishes a command: then nothing is left, neither the state folder nor a placeholder (control: before the broker ends, its placeholders are there)', async () => {
    const ws = tempDir('as-warm-exit-');
    const state = path.join(tempDir('as-warm-exit-state-'), 'state');
    const policy = path.join(tempDir('as-warm-exit-pol-'), 'policy.json');
    fs.writeFileSync(policy, JSON.stringify({ workspaceRoots: [ws] }));
    const env = { ...ENV, AGENT_SANDBOX_STATE_DIR: state };
    const args = ['--policy-file', policy, '--'];
    assert.equal(cli([...args, 'true'], ws, env).status, 0);
    const broker = await brokerFor(ws, 15_000, undefined, state);
    // a command the broker finishes after it stopped listening
    const long = spawn(NODE, [CLI, 'run', ...args, 'sleep', '4'], { cwd: ws, env, stdio: 'ignore' });
    const longDone = new Promise((r) => long.once('exit', r));
    assert.ok(await eventually(() => fs.readdirSync(ws).length > 0, 10_000), 'control: its placeholders are there');
    await new Promise((r) => setTimeout(r, 300));
    fs.writeFileSync(policy, JSON.stringify({ workspaceRoots: [ws], mode: 'read-only' })); // its plan changed
    const stoppedListening = async () => !(await listBrokers(state)).some((l) => l.status?.pid === broker.pid);
    for (let i = 0; i < 100 && !(await stoppedListening()); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(await stoppedListening(), 'the broker stopped listening');
    assert.ok(alive(broker.pid), 'and is still finishing its command');
    const un = spawnSync(NODE, [CLI, 'uninstall'], { encoding: 'utf8', env });
    await longDone;
    assert.ok(await eventually(() => !alive(broker.pid), 10_000), 'the broker exited');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(un.status, 0, `${un.stdout}${un.stderr}`);
    assert.equal(fs.existsSync(state), false, `nothing of the state folder is left: ${un.stdout}`);
    assert.deepEqual(fs.readdirSync(ws), [], 'the workspace is as before');
  });
});

/** The broker daemons (started or starting) of one state folder. */
function daemonsOf(state: string): string[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return (
          fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes('__broker-daemon') &&
          fs.readFileSync(`/proc/${e}/environ`, 'utf8').includes(`AGENT_SANDBOX_STATE_DIR=${state}\0`)
        );
      } catch {
        return false;
      }
    });
}
