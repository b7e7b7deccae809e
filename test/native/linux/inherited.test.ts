/**
 * Linux sandbox, nothing inherited from the caller (issue 12 §3), judged on the host: a descriptor the caller
 * leaked writes nothing outside; the kernel keyring gets no key planted; another plan's private temp and the state
 * folder are not readable; an online command's files in /tmp are not there for an offline one. Each with its
 * control: the same attack with the protection taken out of the plan (or without the sandbox) succeeds.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { koffi } from '../../../native-bindings/linux/libc';
import { compilePlan, type LinuxPlan } from '../../../src/policy';
import { hostContext } from '../../../src/sandbox/host';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { listBrokers, stopBrokers } from '../../../src/sandbox/linux/warm-control';
import { CLI, coldBackend, hostDir, NODE, plan, REPO, run, sh, tempDir } from './helpers';

const backend = coldBackend();
after(() => backend.dispose());

const libc = koffi().load('libc.so.6');
const syscall = libc.func('long syscall(long nr, ...)') as (...a: unknown[]) => number | bigint;
const fcntl = libc.func('int fcntl(int fd, int cmd, ...)') as (...a: unknown[]) => number;
const KEY_SPEC_USER_KEYRING = -4;
const KEYCTL_SEARCH = 10;
const KEYCTL_UNLINK = 9;
const SYS = process.arch === 'arm64' ? { add_key: 217, keyctl: 219 } : { add_key: 248, keyctl: 250 };

/** The key's id in the user's keyring on the host, or -1. */
function findKey(desc: string): number {
  return Number(
    syscall(SYS.keyctl, 'int', KEYCTL_SEARCH, 'int', KEY_SPEC_USER_KEYRING, 'str', 'user', 'str', desc, 'int', 0),
  );
}

/** A node script that plants `user:<desc>` in the user keyring from inside the sandbox and prints the result. */
const PLANT = `
const k = require(${JSON.stringify(path.join(REPO, 'node_modules', 'koffi'))});
const sc = k.load('libc.so.6').func('long syscall(long nr, ...)');
const r = Number(sc(${SYS.add_key}, 'str', 'user', 'str', process.argv[1], 'str', 'data', 'size_t', 4, 'int', ${KEY_SPEC_USER_KEYRING}));
console.log('add_key ' + r + ' errno ' + k.errno());`;

/** The pids of the warm brokers serving `ws`, once one has started (up to 15 s). */
async function eventuallyBrokers(ws: string): Promise<number[]> {
  const end = Date.now() + 15_000;
  for (;;) {
    const pids = (await listBrokers(process.env.AGENT_SANDBOX_STATE_DIR!))
      .filter((b) => b.status?.workspaceRoots.includes(ws))
      .map((b) => b.status!.pid);
    if (pids.length || Date.now() > end) return pids;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('linux sandbox: nothing inherited', () => {
  it('the kernel keyring: add_key from the sandbox fails and plants nothing (control: the same plan without the keyring rule plants the key)', async () => {
    const ws = tempDir('as-key-');
    const desc = `agent-sandbox-test-${process.pid}-${Date.now()}`;
    const r = await run(backend, plan({ workspaceRoots: [ws] }), [NODE, '-e', PLANT, desc]);
    assert.match(r.stdout, /add_key -1 errno 1\b/, r.stderr);
    assert.equal(findKey(desc), -1, 'no key was planted in the user keyring');
    const open = structuredClone(plan({ workspaceRoots: [ws] }));
    open.seccomp.denySyscalls = open.seccomp.denySyscalls.filter(
      (s) => !['add_key', 'keyctl', 'request_key'].includes(s),
    );
    const c = await run(backend, open, [NODE, '-e', PLANT, desc + '-control']);
    const id = findKey(desc + '-control');
    try {
      assert.ok(id > 0, `control: without the rule the key lands on the host (${c.stdout} ${c.stderr})`);
    } finally {
      if (id > 0) syscall(SYS.keyctl, 'int', KEYCTL_UNLINK, 'int', id, 'int', KEY_SPEC_USER_KEYRING);
    }
  });

  it("CLI: a descriptor the caller leaked (a shell's exec 200>>file) cannot be written from the sandbox, nor is it held by the broker it leaves (control: a plain child writes it)", async () => {
    const ws = tempDir('as-fd-');
    const target = path.join(hostDir('as-fd-out-'), 'outside.log');
    fs.writeFileSync(target, '');
    const r = spawnSync(
      'bash',
      ['-c', `exec 200>>"$T"; "$NODE" "$CLI" run -- bash -c 'echo leaked >&200; echo rc=$?'`],
      { cwd: ws, encoding: 'utf8', env: { ...process.env, T: target, NODE, CLI } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /rc=[1-9]/, 'fd 200 is not open inside');
    assert.equal(fs.readFileSync(target, 'utf8'), '', 'nothing reached the file outside');
    // Nor does the warm broker that run left behind hold it (it outlives the caller's shell).
    const daemons = await eventuallyBrokers(ws);
    assert.ok(daemons.length > 0, 'the run left a broker');
    for (const pid of daemons) {
      const open = fs.readdirSync(`/proc/${pid}/fd`).map((f) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/fd/${f}`);
        } catch {
          return '';
        }
      });
      assert.ok(!open.includes(target), `broker ${pid} holds no descriptor of the caller's file`);
    }
    await stopBrokers(process.env.AGENT_SANDBOX_STATE_DIR!);
    const c = spawnSync('bash', ['-c', `exec 200>>"$T"; bash -c 'echo leaked >&200'`], {
      encoding: 'utf8',
      env: { ...process.env, T: target },
    });
    assert.equal(c.status, 0);
    assert.equal(
      fs.readFileSync(target, 'utf8'),
      'leaked\n',
      'control: the descriptor is inherited without the sandbox',
    );
  });

  it("runner: a non-close-on-exec descriptor of the backend's process reaches no command, cold or brokered (control: a plain child writes it)", async () => {
    const ws = tempDir('as-fd-');
    const target = path.join(hostDir('as-fd-out-'), 'outside.log');
    const fd = fs.openSync(target, 'a');
    fcntl(fd, 2 /* F_SETFD */, 'int', 0); // what a careless caller hands down: inheritable
    try {
      const brokered = createLinuxBackend({ stateDir: process.env.AGENT_SANDBOX_STATE_DIR!, broker: true });
      try {
        for (const b of [backend, brokered]) {
          const r = await run(b, plan({ workspaceRoots: [ws] }), [
            'bash',
            '-c',
            `echo leaked >&${fd}; echo rc=$?; ls /proc/self/fd | tr '\\n' ' '`,
          ]);
          assert.match(r.stdout, /rc=[1-9]/, r.stderr);
          assert.match(r.stdout, /^rc=\d+\n0 1 2 3 $/m, `only stdio (and ls's own directory) are open: ${r.stdout}`);
        }
      } finally {
        await brokered.dispose();
      }
      assert.equal(fs.readFileSync(target, 'utf8'), '');
      const c = spawn('bash', ['-c', `echo leaked >&${fd}`], { stdio: 'ignore' });
      await new Promise((r) => c.once('exit', r));
      assert.equal(fs.readFileSync(target, 'utf8'), 'leaked\n', 'control: the descriptor is inheritable');
    } finally {
      fs.closeSync(fd);
    }
  });

  it("the state folder is hidden: another plan's private temp cannot be read while it runs (control: the same plan with the state folder not hidden reads it)", async () => {
    const state = hostDir('as-state-'); // outside the host /tmp, which the private temp already covers
    const b = createLinuxBackend({ stateDir: state, broker: false });
    const ws = tempDir('as-st-');
    const planIn = (network: 'offline' | 'online') =>
      compilePlan({ workspaceRoots: [ws], network }, hostContext({ platform: 'linux', stateDir: state })) as LinuxPlan;
    const online = planIn('online');
    const holder = b.spawn(online, { argv: sh('echo secret > /tmp/secret; sleep 3'), cwd: ws, stdio: 'pipe' });
    const h = await holder;
    try {
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(
        fs.readFileSync(path.join(online.tempDir, 'secret'), 'utf8'),
        'secret\n',
        'the holder wrote its temp',
      );
      const offline = planIn('offline');
      const probe = `cat '${online.tempDir}/secret' 2>&1; ls -A '${state}' | wc -l; cat /tmp/secret 2>&1`;
      const r = await run(b, offline, sh(probe));
      assert.doesNotMatch(r.stdout, /^secret$/m, r.stdout);
      const unhidden = { ...offline, bwrapArgs: dropHiding(offline.bwrapArgs, state) };
      const c = await run(b, unhidden, sh(probe));
      assert.match(c.stdout, /^secret$/m, `control: without the hiding the other plan's temp is readable: ${c.stdout}`);
    } finally {
      h.kill();
      await h.exited;
      await b.dispose();
    }
  });

  it("an online command's files in /tmp are not there for a later offline command, and its temp goes when it ends", async () => {
    const ws = tempDir('as-tmp-');
    const on = plan({ workspaceRoots: [ws], network: 'online' });
    const off = plan({ workspaceRoots: [ws], network: 'offline' });
    assert.notEqual(on.tempDir, off.tempDir);
    const h = await backend.spawn(on, { argv: sh('touch /tmp/left-by-online; sleep 2'), cwd: ws, stdio: 'pipe' });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const r = await run(backend, off, sh('ls /tmp/left-by-online 2>&1; true'));
      assert.match(r.stdout, /No such file/, r.stdout);
      const c = await run(backend, on, sh('ls /tmp/left-by-online'));
      assert.equal(c.code, 0, 'control: a command of the same plan, while the first runs, shares its temp');
    } finally {
      await h.exited;
    }
    assert.equal(fs.existsSync(on.tempDir), false, "the online plan's temp went with its last sandbox");
  });
});

/** The plan's args without the tmpfs hiding `dir`. */
function dropHiding(args: string[], dir: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if ((args[i] === '--tmpfs' || args[i] === '--remount-ro') && args[i + 1] === dir) {
      i++;
      continue;
    }
    out.push(args[i]);
  }
  return out;
}
