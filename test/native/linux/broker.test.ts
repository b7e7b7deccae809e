/**
 * Linux sandbox, broker mode: commands spawned by a long-lived sandboxed runner are confined exactly like cold
 * ones; each distinct plan gets its own broker; dispose() kills brokers and everything they started.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import type { FromRunner } from '../../../src/protocol/linux';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { Broker } from '../../../src/sandbox/linux/broker';
import { commandRequest } from '../../../src/sandbox/linux/launch';
import { probeBwrap } from '../../../src/sandbox/linux/probe';
import {
  alive,
  eventually,
  heartbeatStopped,
  hostDir,
  NODE,
  PROBE,
  plan,
  run,
  sh,
  STATE_DIR,
  tempDir,
} from './helpers';

/** Host PIDs of bwrap processes that are our direct children (the brokers). */
function brokerPids(): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && stat.includes('(bwrap)')) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

/** The host PID of the runner under the process `top` (a broker's launcher): the descendant running runner.js. */
function runnerUnder(top: number): number | undefined {
  const children = new Map<number, number[]>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // gone
    }
  }
  const queue = [top];
  while (queue.length) {
    const pid = queue.shift()!;
    try {
      const [file, script] = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (file === process.execPath && /runner[^/]*\.js$/.test(script ?? '')) return pid;
    } catch {
      // gone
    }
    queue.push(...(children.get(pid) ?? []));
  }
  return undefined;
}

describe('linux sandbox: broker mode', () => {
  it('confines brokered commands like cold ones (writes, protected paths, network, ptrace)', async () => {
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const ws = tempDir('as-brk-');
      const outside = hostDir('as-brk-out-');
      const p = plan({ workspaceRoots: [ws] });
      const r = await run(
        backend,
        p,
        sh(
          `echo in > in.txt; echo out > '${outside}/out.txt'; echo x > .vscode/tasks.json; ` +
            `${NODE} -e "require('net').connect(9,'127.0.0.1').on('error',e=>console.log('TCP '+e.code))"; ` +
            `sleep 5 & ${NODE} ${PROBE} ptrace $!; kill $!; grep -E 'Seccomp:|NoNewPrivs' /proc/self/status`,
        ),
      );
      assert.equal(fs.readFileSync(path.join(ws, 'in.txt'), 'utf8'), 'in\n');
      assert.equal(fs.existsSync(path.join(outside, 'out.txt')), false);
      assert.equal(fs.existsSync(path.join(ws, '.vscode/tasks.json')), false);
      assert.match(r.stdout, /TCP EAFNOSUPPORT/);
      assert.match(r.stdout, /DENIED ptrace failed: EPERM/);
      assert.match(r.stdout, /NoNewPrivs:\s+1/);
      assert.match(r.stdout, /Seccomp:\s+2/);
      assert.equal(brokerPids().length, 1);
    } finally {
      await backend.dispose();
    }
  });

  it("a brokered command cannot take the broker's control channel (its /proc fd links, environ and pidfd_getfd refused; a sibling's allowed)", async () => {
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const ws = tempDir('as-brk-');
      // The channel is an inherited socketpair (fd 3 of the runner), never a socket file; the only way in would be
      // to take the runner's fd. The command runs in its own PID namespace and Landlock domain, so it finds the
      // runner only through /proc. Control: the same probe on a sibling process of the command succeeds.
      const r = await run(
        backend,
        plan({ workspaceRoots: [ws] }),
        sh(
          'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q "runner.js $" && R=${p#/proc/}; done; ' +
            'echo "runner=$R"; readlink /proc/$R/fd/3 && echo "FD REACHABLE"; cat /proc/$R/environ >/dev/null && echo "ENV READABLE"; ' +
            `${NODE} ${PROBE} getfd $R:3; sleep 5 & ${NODE} ${PROBE} getfd $!:1; kill $!`,
        ),
      );
      assert.match(r.stdout, /runner=\d+/, r.stderr);
      assert.doesNotMatch(r.stdout, /FD REACHABLE|ENV READABLE|socket:/);
      assert.deepEqual(r.stdout.match(/SUCCEEDED|DENIED/g), ['DENIED', 'SUCCEEDED']);
    } finally {
      await backend.dispose();
    }
  });

  it('reuses one broker per plan, starts a second for a different plan, and dispose() kills both', async () => {
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    const ws = tempDir('as-brk-');
    const offline = plan({ workspaceRoots: [ws] });
    const online = plan({ workspaceRoots: [ws], network: 'online' });
    assert.equal((await run(backend, offline, ['true'])).code, 0);
    assert.equal((await run(backend, offline, sh('exit 3'))).code, 3);
    assert.equal(brokerPids().length, 1);
    const r = await run(backend, online, sh('echo $AGENT_SANDBOX_NETWORK'));
    assert.equal(r.stdout, 'online\n');
    const pids = brokerPids();
    assert.equal(pids.length, 2);
    // A long-running brokered command must die with its broker.
    const proc = await backend.spawn(offline, { argv: sh('echo $$ > pid; exec sleep 302'), cwd: ws, stdio: 'pipe' });
    await backend.dispose();
    assert.ok(await eventually(() => pids.every((p) => !alive(p))));
    assert.equal((await proc.exited).signal, 'SIGKILL');
    assert.equal(brokerPids().length, 0);
  });

  it('timeout and kill of a brokered command kill its tree (daemons included) and leave the broker serving', async () => {
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const ws = tempDir('as-brk-');
      const p = plan({ workspaceRoots: [ws] });
      const r = await run(
        backend,
        p,
        sh(`setsid sh -c 'while :; do date +%s%N > beat; sleep 0.05; done' & sleep 303`),
        { timeoutMs: 1000 },
      );
      assert.equal(r.code, 124);
      await eventually(() => fs.existsSync(path.join(ws, 'beat')), 2000);
      assert.ok(await heartbeatStopped(path.join(ws, 'beat')), 'daemon survived the timeout');
      assert.equal((await run(backend, p, sh('echo still'))).stdout, 'still\n');
    } finally {
      await backend.dispose();
    }
  });

  it('commands of one broker cannot touch each other: no signal, environ, /proc fds or pidfd_getfd across commands (control: within one command they work), and a setsid survivor that cleared its marker dies when its command ends', async () => {
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const ws = tempDir('as-brk-iso-');
      const p = plan({ workspaceRoots: [ws] });
      // Command A: a long sleep carrying a secret, and a daemon that leaves its session and its marker.
      const a = await backend.spawn(p, {
        argv: sh(
          'export A_SECRET=hunter2; ' +
            "setsid sh -c 'unset AGENT_SANDBOX_COMMAND_ID; while :; do date +%s%N > beat; sleep 0.05; done' & exec sleep 309",
        ),
        cwd: ws,
        stdio: 'pipe',
      });
      assert.ok(await eventually(() => fs.existsSync(path.join(ws, 'beat'))), "command A's daemon runs");
      const sleepers = () =>
        fs.readdirSync('/proc').filter(
          (e) =>
            /^\d+$/.test(e) &&
            (() => {
              try {
                return fs.readFileSync(`/proc/${e}/cmdline`, 'utf8') === 'sleep\u0000309\u0000';
              } catch {
                return false;
              }
            })(),
        );
      assert.equal(sleepers().length, 1);
      // Command B finds A through /proc (the broker's view) and tries everything on it; then the same on its own child.
      const find = (arg: string) =>
        `for p in /proc/[0-9]*; do [ "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" = "sleep ${arg} " ] && echo \${p#/proc/}; done`;
      // /proc routes use the pid /proc shows (the broker's namespace); kill and pidfd_open the caller's own numbering.
      const tryAll = (who: string, arg: string, own: string) =>
        `P=$(${find(arg)}); echo "${who}=$P"; ` +
        `grep -q SECRET= /proc/$P/environ 2>/dev/null && echo "${who} ENV READ"; ` +
        `readlink /proc/$P/fd/1 >/dev/null 2>&1 && echo "${who} FD OPENED"; ` +
        `(echo forged > /proc/$P/fd/1) 2>/dev/null && echo "${who} OUTPUT FORGED"; ` +
        `${NODE} ${PROBE} getfd ${own}:1 | sed "s/^/${who} getfd /"; ` +
        `kill -STOP ${own} 2>/dev/null && echo "${who} SIGNALLED" && kill -CONT ${own}; `;
      const b = await run(
        backend,
        p,
        sh(
          `${tryAll('other', '309', '$P')} B_SECRET=x sleep 310 & sleep 0.3; ` +
            `${tryAll('own', '310', '$!')} kill %1`,
        ),
      );
      assert.match(b.stdout, /other=\d+/, b.stdout + b.stderr);
      assert.doesNotMatch(
        b.stdout,
        /other (ENV READ|FD OPENED|OUTPUT FORGED|SIGNALLED)|other getfd SUCCEEDED/,
        b.stdout,
      );
      assert.match(b.stdout, /other getfd DENIED/);
      assert.doesNotMatch(
        a.stdout
          ? await Promise.race([
              new Promise<string>((res) => a.stdout!.once('data', (d: Buffer) => res(d.toString()))),
              new Promise<string>((res) => setTimeout(() => res(''), 200)),
            ])
          : '',
        /forged/,
      );
      // Control: the same attempts on a process of B's own succeed.
      assert.match(b.stdout, /own=\d+/);
      assert.match(b.stdout, /own ENV READ/);
      assert.match(b.stdout, /own FD OPENED/);
      assert.match(b.stdout, /own getfd SUCCEEDED/);
      assert.match(b.stdout, /own SIGNALLED/);
      assert.equal(sleepers().length, 1, 'command A survived command B');
      // A ends: its setsid daemon, which cleared its marker, must end with it.
      a.kill();
      await a.exited;
      assert.ok(await eventually(() => sleepers().length === 0));
      assert.ok(await heartbeatStopped(path.join(ws, 'beat')), 'the setsid daemon survived its command');
    } finally {
      await backend.dispose();
    }
  });

  it('a brokered command that exits normally takes its setsid daemon (marker cleared) with it', async () => {
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const ws = tempDir('as-brk-end-');
      const p = plan({ workspaceRoots: [ws] });
      const r = await run(
        backend,
        p,
        sh(
          "setsid sh -c 'unset AGENT_SANDBOX_COMMAND_ID; while :; do date +%s%N > beat; sleep 0.05; done' & " +
            'sleep 0.5; echo done',
        ),
      );
      assert.equal(r.stdout, 'done\n');
      assert.ok(await heartbeatStopped(path.join(ws, 'beat')), 'the daemon outlived its command');
      assert.equal((await run(backend, p, sh('echo still'))).stdout, 'still\n', 'the broker still serves');
    } finally {
      await backend.dispose();
    }
  });

  it("a session-long broker's runner keeps no descriptor per command: the /dev/null standing in for stdio a request came without is closed (fds of the runner counted across 20 commands)", async () => {
    const ws = tempDir('as-brk-fd-');
    const p = plan({ workspaceRoots: [ws] });
    const broker = new Broker(probeBwrap().bwrap!, p, STATE_DIR);
    try {
      await broker.start();
      const child = (broker as unknown as { child: ChildProcess }).child;
      const runner = runnerUnder(child.pid!);
      assert.ok(runner, 'runner process not found');
      const fds = () => fs.readdirSync(`/proc/${runner}/fd`).length;
      // Spawn requests with no stdio sockets sent first: the runner opens /dev/null for each of the three.
      const runBare = async (n: number) => {
        const ids = new Set<number>();
        const done = new Promise<void>((resolve) => {
          const onExit = (m: FromRunner) => {
            if (m.type === 'exit' && ids.delete(m.id) && !ids.size) {
              child.off('message', onExit);
              resolve();
            }
          };
          child.on('message', onExit);
        });
        for (let i = 0; i < n; i++) {
          const req = commandRequest(p, ['true'], ws);
          ids.add(req.id);
          child.send({ type: 'spawn', command: req });
        }
        await done;
      };
      await runBare(2); // warm: the spare threads exist
      // Spare threads (each with its own event loop's descriptors) finish starting or ending within this.
      const settled = async () => {
        await new Promise((r) => setTimeout(r, 500));
        return fds();
      };
      const before = await settled();
      await runBare(20);
      const after = await settled();
      // 60 stand-ins were opened; a leak shows as about that many more descriptors, spares come and go by a few.
      assert.ok(after <= before + 4, `runner descriptors ${before} -> ${after} across 20 commands`);
    } finally {
      await broker.close();
    }
  });

  it("a policy change retires the old plan's broker: its running command ends normally, then its process is gone; another network mode's broker stays", async () => {
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const ws = tempDir('as-brk-retire-');
      const before = plan({ workspaceRoots: [ws] });
      const online = plan({ workspaceRoots: [ws], network: 'online' });
      const changed = plan({ workspaceRoots: [ws], writableRoots: [ws, tempDir('as-brk-extra-')] });
      assert.notDeepEqual(changed, before);
      assert.equal((await run(backend, before, ['true'])).code, 0);
      const [oldPid] = brokerPids();
      assert.equal((await run(backend, online, ['true'])).code, 0);
      const onlinePid = brokerPids().find((p) => p !== oldPid)!;
      // Still running under the old plan when the policy changes.
      const long = await backend.spawn(before, { argv: sh('sleep 1; echo finished'), cwd: ws, stdio: 'pipe' });
      long.stdin?.end();
      let out = '';
      long.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      assert.equal((await run(backend, changed, ['true'])).code, 0);
      assert.ok(alive(oldPid), 'the old broker was closed under its running command');
      assert.equal((await long.exited).code, 0);
      assert.ok(await eventually(() => out === 'finished\n'), out);
      assert.ok(await eventually(() => !alive(oldPid)), 'the old broker still runs once idle');
      // Control: the online plan's broker is no replacement of it, and the new plan's broker serves.
      assert.ok(alive(onlinePid), "the online plan's broker was retired too");
      assert.equal(brokerPids().length, 2);
      assert.equal((await run(backend, changed, sh('echo ok'))).stdout, 'ok\n');
    } finally {
      await backend.dispose();
    }
  });
});
