/**
 * The warm daemon's answer once a command has started (plumbing: the daemon over its real Unix channel, with a
 * stand-in sandbox that counts spawns and kills; no enforcement is claimed here). A failure after the spawn must
 * stop the command and answer 125: a refusal would make the client run the same command again, cold.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { planIdentity } from '../../src/cli/warm/daemon';
import type { Plan } from '../../src/policy';
import { frame, FrameReader, socketPath, WARM_PROTOCOL } from '../../src/protocol/warm';

const OUT = path.resolve(__dirname, '..', '..');
const KEY = 'k'.repeat(32);
const PLAN = {
  platform: 'linux',
  env: { set: {} },
  workspaceRoots: [],
  writableRoots: [],
  network: 'offline',
  warnings: [],
};

/** A daemon whose sandbox starts a stand-in command, then cannot report its enforcement (its getter throws). */
const CHILD = `
const { Daemon } = require(${JSON.stringify(path.join(OUT, 'src/cli/warm/daemon.js'))});
const { unixChannel } = require(${JSON.stringify(path.join(OUT, 'src/cli/warm/channel-unix.js'))});
const plan = ${JSON.stringify(PLAN)};
const dir = process.env.DAEMON_DIR;
let spawned = 0, killed = 0;
const sandbox = {
  get served() { return spawned; },
  alive: true,
  compile: async () => plan,
  spawn: async () => {
    await new Promise((r) => setTimeout(r, Number(process.env.SPAWN_DELAY_MS || 0)));
    spawned++;
    let done;
    const exited = new Promise((r) => (done = r));
    return {
      stdin: null, stdout: null, stderr: null, exited,
      kill: () => { killed++; done({ code: 137, signal: 'SIGKILL' }); },
      get enforcement() {
        if (process.env.ENFORCEMENT_OK) return { applied: [], notes: [] };
        throw new Error('enforcement unreadable');
      },
    };
  },
  close: async () => undefined,
};
process.on('message', () => process.send({ spawned, killed }));
void new Daemon({ key: ${JSON.stringify(KEY)}, policyArgs: [] }, dir, plan, sandbox, dir, dir, unixChannel).listen(() =>
  process.send('listening'),
);
`;

function frames(sock: string, hello: object): Promise<{ type: string; payload: string }[]> {
  return new Promise((resolve, reject) => {
    const got: { type: string; payload: string }[] = [];
    const c = net.connect(sock);
    const reader = new FrameReader((type, payload) => got.push({ type, payload: payload.toString() }));
    c.on('connect', () => c.write(frame('H', JSON.stringify(hello))));
    c.on('data', (d: Buffer) => reader.push(d));
    c.on('error', reject);
    c.on('close', () => resolve(got));
  });
}

/** Starts the stand-in daemon (CHILD) in a fresh folder, with `env` added; resolves once it listens. */
async function startDaemon(env: NodeJS.ProcessEnv = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-daemon-'));
  const child = fork('-e', [CHILD], {
    execArgv: [],
    env: { ...process.env, ...env, DAEMON_DIR: dir },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((res, rej) => {
    child.once('message', () => res());
    child.once('exit', (c) => rej(new Error(`daemon exited ${c}`)));
  });
  const counts = async () => {
    child.send('counts');
    return (await new Promise((res) => child.once('message', res))) as { spawned: number; killed: number };
  };
  const hello = {
    v: WARM_PROTOCOL,
    key: KEY,
    planHash: planIdentity(PLAN as unknown as Plan),
    policyArgs: [],
    cwd: dir,
    env: {},
    argv: ['x'],
  };
  const close = () => {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { sock: socketPath(dir, KEY), hello, counts, close };
}

test(
  'warm daemon: a failure after the command started stops it and answers 125, never a refusal (which would run it twice)',
  { skip: process.platform !== 'linux' && 'Unix channel' },
  async () => {
    const d = await startDaemon();
    try {
      const got = await frames(d.sock, d.hello);
      assert.deepEqual(
        got.map((f) => f.type),
        ['A', 'X', 'Z'],
        JSON.stringify(got),
      );
      assert.match(
        got[1].payload,
        /enforcement could not be checked \(enforcement unreadable\); the command was stopped/,
      );
      assert.equal(JSON.parse(got[2].payload).code, 125);
      assert.deepEqual(await d.counts(), { spawned: 1, killed: 1 }, 'started once, and stopped');
    } finally {
      d.close();
    }
  },
);

test(
  'warm daemon: a caller that goes away while its command is being started does not leave the command running',
  { skip: process.platform !== 'linux' && 'Unix channel' },
  async () => {
    const d = await startDaemon({ SPAWN_DELAY_MS: '300', ENFORCEMENT_OK: '1' });
    try {
      // The caller sends its command and dies at once, while the (slow) sandbox is still starting it.
      await new Promise<void>((resolve) => {
        const c = net.connect(d.sock);
        c.on('connect', () => c.write(frame('H', JSON.stringify(d.hello)), () => (c.destroy(), resolve())));
        c.on('error', () => resolve());
      });
      let got = await d.counts();
      for (let i = 0; i < 50 && got.spawned === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        got = await d.counts();
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await d.counts(), { spawned: 1, killed: 1 }, 'started, then stopped: its caller is gone');
    } finally {
      d.close();
    }
  },
);
