/**
 * Linux sandbox, broker mode: commands spawned by a long-lived sandboxed runner are confined exactly like cold
 * ones; each distinct plan gets its own broker; dispose() kills brokers and everything they started.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { alive, eventually, hostDir, NODE, PROBE, plan, run, sh, STATE_DIR, tempDir } from './helpers';

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

  it("a brokered command cannot take the broker's control channel (its /proc fd links and pidfd_getfd refused; a sibling's allowed)", async () => {
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const ws = tempDir('as-brk-');
      // The channel is an inherited socketpair (fd 3 of the runner), never a socket file; the only way in would be
      // to take the runner's fd. Control: the same probe on a sibling process of the command succeeds.
      const r = await run(
        backend,
        plan({ workspaceRoots: [ws] }),
        sh(
          'R=$PPID; tr "\\0" " " < /proc/$R/cmdline | grep -q "runner.js $" && echo "runner=$R"; ' +
            `readlink /proc/$R/fd/3 && echo "FD REACHABLE"; ${NODE} ${PROBE} getfd $R:3; ` +
            `sleep 5 & ${NODE} ${PROBE} getfd $!:1; kill $!`,
        ),
      );
      assert.match(r.stdout, /runner=\d+/, r.stderr);
      assert.doesNotMatch(r.stdout, /FD REACHABLE|socket:/);
      assert.deepEqual(r.stdout.match(/SUCCEEDED|DENIED \S+ failed: \w+/g), [
        'DENIED pidfd_getfd failed: EPERM',
        'SUCCEEDED',
      ]);
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
      await new Promise((res) => setTimeout(res, 300));
      const last = fs.readFileSync(path.join(ws, 'beat'), 'utf8');
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(fs.readFileSync(path.join(ws, 'beat'), 'utf8'), last, 'daemon survived the timeout');
      assert.equal((await run(backend, p, sh('echo still'))).stdout, 'still\n');
    } finally {
      await backend.dispose();
    }
  });
});
