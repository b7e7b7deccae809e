import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { MountGuard } from '../../src/sandbox/linux/guard';
import type { LinuxPlan } from '../../src/policy/plan';
import { unixTable } from '../../src/sandbox/linux/host-sockets';
import { SandboxError } from '../../src/errors';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a hidden path whose folder inotify cannot watch (missing at start) is polled: created later on the host, it stops the sandbox; control: left alone, it does not', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'as-guard-'));
  const cred = path.join(base, 'later', 'credentials');
  const quiet = path.join(base, 'never', 'credentials');
  const breaches: string[] = [];
  const control: string[] = [];
  const g = new MountGuard({ guardedPaths: [], hiddenSockets: [], denyRead: [cred], privateState: undefined });
  const c = new MountGuard({ guardedPaths: [], hiddenSockets: [], denyRead: [quiet], privateState: undefined });
  g.onBreach = (r) => breaches.push(r);
  c.onBreach = (r) => control.push(r);
  try {
    fs.mkdirSync(path.dirname(cred));
    fs.writeFileSync(cred, 'secret');
    await wait(800);
    assert.equal(breaches.length, 1, 'the new credential was noticed without an inotify watch on its folder');
    assert.match(breaches[0], /credentials was replaced/);
    assert.deepEqual(control, []);
  } finally {
    g.close();
    c.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test("socket watch: a pathname socket that starts listening where the sandbox could reach it stops the sandbox; control: the same socket inside the plan's roots (its own) does not", async () => {
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/var/tmp') ? '/var/tmp' : os.homedir(), 'as-guard-'));
  const sock = path.join(dir, 'late.sock');
  const base = {
    confined: true,
    guardedPaths: [],
    hiddenSockets: [],
    denyRead: [],
    privateState: undefined,
    writableRoots: [],
  } as unknown as LinuxPlan;
  const outside = { ...base, workspaceRoots: [] } as LinuxPlan;
  const inside = { ...base, workspaceRoots: [dir] } as LinuxPlan;
  const breaches: string[] = [];
  const control: string[] = [];
  const g = new MountGuard(outside, { sockets: outside });
  const c = new MountGuard(inside, { sockets: inside });
  g.onBreach = (r) => breaches.push(r);
  c.onBreach = (r) => control.push(r);
  const srv = net.createServer();
  try {
    await new Promise<void>((r) => srv.listen(sock, r));
    await wait(800);
    assert.equal(breaches.length, 1, 'the new listener was noticed');
    assert.match(breaches[0], new RegExp(`${sock} started listening while the sandbox ran`));
    assert.deepEqual(control, [], "a socket in the sandbox's own roots is not a breach");
  } finally {
    g.close();
    c.close();
    await new Promise((r) => srv.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a hidden path under a missing folder is reported by the inotify watch on its nearest existing ancestor, with no poll at all (control: a path never created is not)', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'as-guard-'));
  const cred = path.join(base, 'tool.d', 'deeper', 'credentials');
  const quiet = path.join(base, 'never.d', 'credentials');
  const realSetInterval = globalThis.setInterval;
  // No poll: only inotify events can report anything.
  globalThis.setInterval = (() => ({ unref: () => undefined })) as unknown as typeof setInterval;
  const breaches: string[] = [];
  const control: string[] = [];
  let g: MountGuard | undefined;
  let c: MountGuard | undefined;
  try {
    g = new MountGuard({ guardedPaths: [], hiddenSockets: [], denyRead: [cred], privateState: undefined });
    c = new MountGuard({ guardedPaths: [], hiddenSockets: [], denyRead: [quiet], privateState: undefined });
  } finally {
    globalThis.setInterval = realSetInterval;
  }
  g.onBreach = (r) => breaches.push(r);
  c.onBreach = (r) => control.push(r);
  try {
    fs.mkdirSync(path.dirname(path.dirname(cred)));
    await wait(100);
    fs.mkdirSync(path.dirname(cred));
    await wait(100);
    fs.writeFileSync(cred, 'secret');
    await wait(400);
    assert.equal(breaches.length, 1, 'the folders made on the way were watched as they appeared');
    assert.match(breaches[0], /credentials was replaced/);
    assert.deepEqual(control, []);
  } finally {
    g.close();
    c.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('socket watch fails closed: a host socket table that cannot be read refuses the sandbox at start, and stops it when lost mid-run (control: the readable table does neither)', async () => {
  const plan = {
    confined: true,
    guardedPaths: [],
    hiddenSockets: [],
    denyRead: [],
    privateState: undefined,
    writableRoots: [],
    workspaceRoots: [],
  } as unknown as LinuxPlan;
  const real = unixTable.path;
  const unreadable = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'as-guard-')), 'missing', 'unix');
  const breaches: string[] = [];
  // control: with the real table the guard starts and stays quiet
  const g = new MountGuard(plan, { sockets: plan });
  g.onBreach = (r) => breaches.push(r);
  try {
    await wait(400);
    assert.deepEqual(breaches, []);
    unixTable.path = unreadable;
    assert.throws(
      () => new MountGuard(plan, { sockets: plan }),
      (e: unknown) => e instanceof SandboxError && /cannot be read .*nothing was run/.test(e.message),
    );
    await wait(800);
    assert.equal(breaches.length, 1, 'the running guard noticed it went blind');
    assert.match(breaches[0], /can no longer be read .*the socket watch is blind/);
  } finally {
    unixTable.path = real;
    g.close();
  }
});
