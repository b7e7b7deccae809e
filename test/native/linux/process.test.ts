/**
 * Linux sandbox, processes: ptrace and process_vm_* denied (with unsandboxed controls showing the probe can
 * succeed), process-tree lifetime (daemons, timeout, abort), exit codes, stdio streaming and stdin, and the
 * environment scrub.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { alive, coldBackend, eventually, NODE, plan, PROBE, run, sh, tempDir } from './helpers';

const backend = coldBackend();
after(() => backend.dispose());
const exec = promisify(execFile);

describe('linux sandbox: process isolation', () => {
  it('ptrace is denied inside; the same probe succeeds outside (control)', async () => {
    const ws = tempDir('as-proc-');
    const r = await run(backend, plan({ workspaceRoots: [ws] }), sh(`sleep 5 & ${NODE} ${PROBE} ptrace $!; kill $!`));
    assert.match(r.stdout, /DENIED ptrace failed: EPERM/);
    const target = spawn('sleep', ['5']);
    try {
      const out = await exec(NODE, [PROBE, 'ptrace', String(target.pid)]);
      assert.match(out.stdout, /SUCCEEDED/);
    } finally {
      target.kill('SIGKILL');
    }
  });

  it("commands hold no capabilities, even when the caller is root (control: the caller's own set)", async () => {
    const ws = tempDir('as-proc-');
    const r = await run(backend, plan({ workspaceRoots: [ws] }), sh('grep -E "^Cap(Eff|Prm|Amb):" /proc/self/status'));
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[1]),
      ['0000000000000000', '0000000000000000', '0000000000000000'],
      r.stdout,
    );
    const own = fs.readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s+(\w+)/m)?.[1];
    assert.ok(own, 'the test process has a CapEff line');
    // as root the caller holds capabilities, so all-zero inside is the sandbox's doing, not the caller's
    if (process.getuid?.() === 0) assert.notEqual(own, '0000000000000000', 'root outside holds capabilities');
  });

  it('a host process is not even visible inside (PID namespace)', async () => {
    const ws = tempDir('as-proc-');
    const r = await run(
      backend,
      plan({ workspaceRoots: [ws] }),
      sh(`test -e /proc/${process.pid} && echo VISIBLE; ${NODE} ${PROBE} ptrace ${process.pid}`),
    );
    assert.doesNotMatch(r.stdout, /VISIBLE|SUCCEEDED/);
    assert.match(r.stdout, /DENIED/);
  });

  it('process_vm_readv is denied inside; allowed outside (control)', async () => {
    const ws = tempDir('as-proc-');
    const r = await run(backend, plan({ workspaceRoots: [ws] }), sh(`sleep 5 & ${NODE} ${PROBE} vmread $!; kill $!`));
    assert.match(r.stdout, /DENIED process_vm_readv failed: EPERM/);
    const out = await exec(NODE, [PROBE, 'vmread', String(process.pid)]);
    assert.match(out.stdout, /SUCCEEDED/);
  });
});

describe('linux sandbox: process lifetime and exit codes', () => {
  it('a daemonized grandchild does not survive the run', async () => {
    const ws = tempDir('as-life-');
    const pidFile = path.join(ws, 'started');
    // The daemon keeps rewriting `beat`; if it survived, the file would keep changing after the run.
    const r = await run(
      backend,
      plan({ workspaceRoots: [ws] }),
      // The command waits for the daemon's first beat, so the daemon provably ran before the command returned.
      sh(
        `setsid sh -c 'while :; do date +%s%N > beat; sleep 0.05; done' </dev/null >/dev/null 2>&1 & ` +
          `while [ ! -s beat ]; do sleep 0.01; done; echo started > ${pidFile}`,
      ),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(pidFile));
    const last = fs.readFileSync(path.join(ws, 'beat'), 'utf8');
    await new Promise((res) => setTimeout(res, 600));
    assert.equal(
      fs.readFileSync(path.join(ws, 'beat'), 'utf8'),
      last,
      'the daemon kept running after the run returned',
    );
    assert.equal(hostProcessesWith(ws).length, 0);
  });

  it('control: the same daemon outside the sandbox does keep running', async () => {
    const ws = tempDir('as-life-');
    const child = spawn(
      'sh',
      ['-c', `setsid sh -c 'while :; do date +%s%N > beat; sleep 0.05; done' </dev/null >/dev/null 2>&1 &`],
      { cwd: ws },
    );
    await new Promise((res) => child.once('exit', res));
    await eventually(() => fs.existsSync(path.join(ws, 'beat')), 2000);
    const last = fs.readFileSync(path.join(ws, 'beat'), 'utf8');
    assert.ok(await eventually(() => fs.readFileSync(path.join(ws, 'beat'), 'utf8') !== last, 3000));
    for (const pid of hostProcessesWith(ws)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // A short-lived child (sleep, date) may have exited since it was listed.
      }
    }
  });

  it('timeout kills the whole tree, including daemons, and gives 124', async () => {
    const ws = tempDir('as-life-');
    const r = await run(
      backend,
      plan({ workspaceRoots: [ws] }),
      sh(`setsid sh -c 'sleep 300' & sleep 300 & echo up; wait`),
      { timeoutMs: 1000 },
    );
    assert.equal(r.code, 124);
    assert.equal(r.timedOut, true);
    assert.match(r.stdout, /up/);
    assert.ok(await eventually(() => hostProcessesWith('sleep 300', ws).length === 0));
  });

  it('an AbortSignal kills the whole tree', async () => {
    const ws = tempDir('as-life-');
    const ac = new AbortController();
    const proc = await backend.spawn(plan({ workspaceRoots: [ws] }), {
      argv: sh(`cd '${ws}' && setsid sleep 301 & sleep 301`),
      cwd: ws,
      stdio: 'pipe',
      signal: ac.signal,
    });
    ac.abort();
    const exit = await proc.exited;
    assert.equal(exit.code, 137);
    assert.equal(exit.signal, 'SIGKILL');
    assert.ok(await eventually(() => hostProcessesWith('sleep 301').length === 0));
  });

  it('exit codes: own code, 128+N for a signal, 127 for a missing command', async () => {
    const ws = tempDir('as-life-');
    const p = plan({ workspaceRoots: [ws] });
    assert.equal((await run(backend, p, sh('exit 7'))).code, 7);
    assert.equal((await run(backend, p, ['true'])).code, 0);
    const sig = await run(backend, p, sh('kill -TERM $$'));
    assert.equal(sig.code, 143);
    assert.equal(sig.signal, 'SIGTERM');
    const missing = await run(backend, p, ['definitely-not-a-command-xyz']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /command not found/);
  });

  it('streams stdout and stderr and passes stdin through', async () => {
    const ws = tempDir('as-io-');
    const r = await run(backend, plan({ workspaceRoots: [ws] }), sh('tr a-z A-Z; echo err >&2'), {
      input: 'hello stdin\n',
    });
    assert.equal(r.stdout, 'HELLO STDIN\n');
    assert.equal(r.stderr, 'err\n');
  });
});

describe('linux sandbox: environment', () => {
  it('scrubs secrets, keeps allowlisted ones, sets the private temp', async () => {
    const ws = tempDir('as-env-');
    const env = { ...process.env, GITHUB_TOKEN: 'ghp_secret', MY_API_KEY: 'k', KEEP_TOKEN: 'kept', PLAIN: 'plain' };
    const p = plan({ workspaceRoots: [ws], env: { allow: ['KEEP_TOKEN'] } }, env);
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const r = await run(backend, p, sh('env'));
      assert.doesNotMatch(r.stdout, /ghp_secret|MY_API_KEY|GITHUB_TOKEN/);
      assert.match(r.stdout, /^KEEP_TOKEN=kept$/m);
      assert.match(r.stdout, /^PLAIN=plain$/m);
      assert.match(r.stdout, /^TMPDIR=\/tmp$/m);
      assert.match(r.stdout, /^AGENT_SANDBOX=1$/m);
    } finally {
      for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
    }
  });
});

/** Host PIDs whose command line contains every needle (our own process excluded). */
function hostProcessesWith(...needles: string[]): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const cwd = fs.readlinkSync(`/proc/${e}/cwd`);
      if (needles.every((n) => cmd.includes(n) || cwd.includes(n)) && alive(Number(e))) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}
