/**
 * Linux sandbox, resource limits (maxProcesses, maxMemoryMb), judged on the host: how many of the sandbox's
 * processes the host can count at once, whether a memory hog got far enough to write its marker, and that no cgroup
 * is left once the sandbox has ended. Each limit has its control: the same program under a higher limit succeeds.
 * The cgroup cases skip (saying why) where this machine lets no cgroup be made; the RLIMIT_DATA fallback runs
 * everywhere.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { coldBackend, NODE, plan, run, sh, STATE_DIR, tempDir } from './helpers';

const backend = coldBackend();
after(() => backend.dispose());

/** Processes on the host whose environment (or, with `where` 'cmdline', command line) carries `marker`. */
function countMarked(marker: string, where: 'environ' | 'cmdline' = 'environ'): number {
  let n = 0;
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/${where}`, 'latin1').includes(marker)) n++;
    } catch {
      // gone, or not ours to read
    }
  }
  return n;
}

/** Processes on the host whose command line carries `marker` (readable across a user namespace, unlike environ). */
const countArgv = (marker: string) => countMarked(marker, 'cmdline');

/** Cgroup folders this test process's sandboxes made that still exist. */
function leftoverGroups(): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of names) {
      if (!d.isDirectory()) continue;
      if (d.name.startsWith(`agent-sandbox-${process.pid}-`)) out.push(path.join(dir, d.name));
      else if (depth < 4) walk(path.join(dir, d.name), depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return out;
}

/** The per-command cgroups (`command-N`) inside this test process's broker cgroups that still exist. */
function commandGroups(): string[] {
  return leftoverGroups().flatMap((g) =>
    fs
      .readdirSync(g)
      .filter((n) => n.startsWith('command-'))
      .map((n) => path.join(g, n)),
  );
}

/** Runs `f` with brokers forced to share one cgroup among their commands (the test hook) when `shared`. */
async function withShared<T>(shared: boolean, f: () => Promise<T>): Promise<T> {
  if (shared) process.env.AGENT_SANDBOX_SHARED_BROKER_CGROUP = '1';
  try {
    return await f();
  } finally {
    delete process.env.AGENT_SANDBOX_SHARED_BROKER_CGROUP;
  }
}

/** A fork bomb bounded by its depth (2^(depth+1)-1 shells, each sleeping), so a failing test cannot take the host. */
function bomb(depth: number, marker: string): string[] {
  return [
    'env',
    marker,
    ...sh(`b(){ if [ "$1" -gt 0 ]; then b $(($1-1)) & b $(($1-1)) & fi; sleep 2; wait; }; b ${depth}`),
  ];
}

/** Runs `argv` while polling the host for the most processes carrying `marker` at once. */
async function runCounting(p: ReturnType<typeof plan>, argv: string[], marker: string) {
  let most = 0;
  const poll = setInterval(() => (most = Math.max(most, countMarked(marker))), 50);
  try {
    const r = await run(backend, p, argv, { timeoutMs: 30_000 });
    return { r, most };
  } finally {
    clearInterval(poll);
  }
}

const HOG = (marker: string, mb: number) => [
  NODE,
  '-e',
  `const a=[]; for (let i=0;i<${mb / 10};i++) a.push(Buffer.alloc(10<<20, 1)); require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`,
];

/** The cgroup version a sandbox gets here (1 or 2), or undefined when none can be made. */
async function cgroupVersion(): Promise<number | undefined> {
  const ws = tempDir('as-lim-');
  const proc = await backend.spawn(plan({ workspaceRoots: [ws] }), { argv: ['true'], cwd: ws, stdio: 'pipe' });
  await proc.exited;
  const v = proc.enforcement.notes.map((n) => /cgroup v([12])/.exec(n)?.[1]).find(Boolean);
  return v ? Number(v) : undefined;
}

describe('linux sandbox: resource limits through a cgroup', async () => {
  const version = await cgroupVersion();
  const skip = version ? false : 'no cgroup can be made on this machine (the RLIMIT_DATA fallback is tested below)';
  // Under v2 a broker's commands share its limits by design (threads cannot be split across groups there).
  const perCommand =
    version === 2
      ? "cgroup v2: a broker's commands share its cgroup (per-command groups need v1; untested here)"
      : skip;

  it(
    'a fork bomb stays within maxProcesses: the host never counts more of its processes, and the exit says the limit was hit',
    { skip },
    async () => {
      const ws = tempDir('as-lim-');
      const marker = `AS_BOMB_${randomUUID().slice(0, 8)}=1`;
      const { r, most } = await runCounting(plan({ workspaceRoots: [ws], maxProcesses: 48 }), bomb(7, marker), marker);
      assert.ok(most > 0, 'the host saw the bomb run');
      assert.ok(most <= 48, `the host counted ${most} of the sandbox's processes at once (limit 48)`);
      assert.match((r.limitsHit ?? []).join('\n'), /process limit reached \(48\)/, `exit ${r.code}: ${r.stderr}`);
      // the host itself is fine: it starts a process of its own right after
      assert.equal(execFileSync('echo', ['host ok']).toString().trim(), 'host ok');
      assert.deepEqual(leftoverGroups(), [], 'the cgroup is removed once the sandbox ended');
    },
  );

  it(
    'control: the same bomb under a higher maxProcesses runs all 255 shells and reports no limit',
    { skip },
    async () => {
      const ws = tempDir('as-lim-');
      const marker = `AS_BOMB_${randomUUID().slice(0, 8)}=1`;
      const { r, most } = await runCounting(
        plan({ workspaceRoots: [ws], maxProcesses: 2000 }),
        bomb(7, marker),
        marker,
      );
      assert.ok(most > 48, `the host counted ${most} at once, above the first test's limit`);
      assert.equal(r.limitsHit, undefined);
      assert.equal(r.code, 0, r.stderr);
    },
  );

  it(
    "a command can neither raise its cgroup's limit nor leave it (control: the host can write the same file)",
    { skip },
    async () => {
      const ws = tempDir('as-lim-');
      const p = plan({ workspaceRoots: [ws], maxProcesses: 64 });
      const proc = await backend.spawn(p, {
        argv: sh(
          'for d in /sys/fs/cgroup/pids/agent-sandbox-* /sys/fs/cgroup/agent-sandbox-*; do [ -e "$d/pids.max" ] || continue; ' +
            'echo "$d"; echo max > "$d/pids.max" && echo RAISED; done; echo $$ > /sys/fs/cgroup/pids/cgroup.procs && echo MOVED; ' +
            'echo $$ > /sys/fs/cgroup/cgroup.procs && echo MOVED; sleep 1',
        ),
        cwd: ws,
        stdio: 'pipe',
      });
      let out = '';
      proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      proc.stdin?.end();
      await new Promise((r) => setTimeout(r, 600));
      const dir = out.split('\n').find((l) => l.includes('agent-sandbox-'));
      assert.ok(dir, `the sandbox sees its own cgroup folder: ${out}`);
      assert.equal(fs.readFileSync(path.join(dir, 'pids.max'), 'utf8').trim(), '64', 'the limit is unchanged');
      // control: the same write from the host lands (the path is the live limit)
      fs.writeFileSync(path.join(dir, 'pids.max'), '65');
      assert.equal(fs.readFileSync(path.join(dir, 'pids.max'), 'utf8').trim(), '65');
      await proc.exited;
      assert.doesNotMatch(out, /RAISED|MOVED/);
    },
  );

  it(
    "a cgroup left by a host process that died is removed by the next sandbox made beside it (control: a live process's stays)",
    { skip },
    async () => {
      const ws = tempDir('as-lim-');
      const first = await backend.spawn(plan({ workspaceRoots: [ws] }), { argv: ['true'], cwd: ws, stdio: 'pipe' });
      await first.exited;
      const made = /cgroup v[12] ([^,)]+)/.exec(first.enforcement.notes.join('\n'))?.[1];
      assert.ok(made, first.enforcement.notes.join('\n'));
      const parent = path.dirname(made);
      const dead = path.join(parent, 'agent-sandbox-4194303-1'); // above any pid_max: no such process
      const live = path.join(parent, `agent-sandbox-${process.ppid}-1`);
      fs.mkdirSync(dead);
      fs.mkdirSync(live);
      try {
        await run(backend, plan({ workspaceRoots: [ws] }), ['true']);
        assert.equal(fs.existsSync(dead), false, "the dead process's cgroup was removed");
        assert.equal(fs.existsSync(live), true, "a live process's cgroup is left alone");
      } finally {
        for (const d of [dead, live]) if (fs.existsSync(d)) fs.rmdirSync(d);
      }
    },
  );

  it(
    'a memory hog past maxMemoryMb is killed before it writes its marker, and the exit says why',
    { skip },
    async () => {
      const ws = tempDir('as-lim-');
      const marker = path.join(ws, 'hog-finished');
      const r = await run(backend, plan({ workspaceRoots: [ws], maxMemoryMb: 128 }), HOG(marker, 400));
      assert.equal(fs.existsSync(marker), false, 'the hog never finished');
      assert.equal(r.code, 137, r.stderr);
      assert.match((r.limitsHit ?? []).join('\n'), /memory limit reached \(128 MiB\)/);
      assert.deepEqual(leftoverGroups(), []);
    },
  );

  it('control: the same hog under a higher maxMemoryMb writes its marker', { skip }, async () => {
    const ws = tempDir('as-lim-');
    const marker = path.join(ws, 'hog-finished');
    const r = await run(backend, plan({ workspaceRoots: [ws], maxMemoryMb: 2048 }), HOG(marker, 400));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.existsSync(marker), true);
    assert.equal(r.limitsHit, undefined);
  });

  it(
    "brokered: the notes say the limits are each command's own (control: the shared-cgroup hook says shared by the commands of one broker)",
    { skip: perCommand },
    async () => {
      const ws = tempDir('as-lim-');
      const p = plan({ workspaceRoots: [ws], maxProcesses: 64, maxMemoryMb: 160 });
      for (const shared of [false, true]) {
        const broker = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
        try {
          const proc = await withShared(shared, () => broker.spawn(p, { argv: ['true'], cwd: ws, stdio: 'pipe' }));
          proc.stdin?.end();
          await proc.exited;
          const limitNotes = proc.enforcement.notes.filter((n) => /^(processes|memory): /.test(n));
          assert.equal(limitNotes.length, 2, proc.enforcement.notes.join('\n'));
          for (const n of limitNotes) {
            assert.equal(n.includes('shared by the commands of one broker'), shared, n);
            assert.equal(n.includes('for each command of the broker'), !shared, n);
          }
        } finally {
          await broker.dispose();
        }
      }
    },
  );

  it(
    'brokered: the broker hands the hit to the command that ran into it, and its cgroup goes with it',
    { skip: perCommand },
    async () => {
      const broker = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
      const ws = tempDir('as-lim-');
      const p = plan({ workspaceRoots: [ws], maxMemoryMb: 160 });
      const marker = path.join(ws, 'hog-finished');
      try {
        const hog = await run(broker, p, HOG(marker, 400));
        assert.equal(fs.existsSync(marker), false);
        assert.match((hog.limitsHit ?? []).join('\n'), /memory limit reached \(160 MiB\)/);
        assert.doesNotMatch((hog.limitsHit ?? []).join('\n'), /shared/);
        // control: the next command of the same broker hits nothing and runs
        const next = await run(broker, p, sh('echo fine'));
        assert.equal(next.stdout.trim(), 'fine');
        assert.equal(next.limitsHit, undefined);
        assert.ok(leftoverGroups().length > 0, 'the live broker holds its cgroup');
        assert.deepEqual(commandGroups(), [], "each command's own cgroup is removed when it ends");
      } finally {
        await broker.dispose();
      }
      assert.deepEqual(leftoverGroups(), [], 'no cgroup left after the broker is disposed');
    },
  );

  for (const shared of [false, true]) {
    it(
      shared
        ? 'control: with one cgroup shared by the broker (test hook), the fork bomb starves the other command'
        : "brokered: one command's fork bomb at its limit leaves a concurrent command of the same broker unaffected",
      { skip: perCommand },
      async () => {
        const ws = tempDir('as-lim-');
        const p = plan({ workspaceRoots: [ws], maxProcesses: 48 });
        const broker = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
        // Named in the shells' argv ($0), which the host can read across the command's user namespace. Node, unlike
        // a shell, outlives its refused forks, so the bomb holds its limit for its whole 6 s.
        const marker = `AS_BOMB_${randomUUID().slice(0, 8)}`;
        const bombArgv = [
          NODE,
          '-e',
          `for (let i = 0; i < 100; i++) { try { require('child_process').spawn('sh', ['-c', 'sleep 6; :', ` +
            `${JSON.stringify(marker)}], { stdio: 'ignore' }).on('error', () => {}); } catch {} } setTimeout(() => {}, 6500);`,
        ];
        if (shared) process.env.AGENT_SANDBOX_SHARED_BROKER_CGROUP = '1';
        try {
          const bombing = run(broker, p, bombArgv, { timeoutMs: 60_000 });
          // the bomb holds its limit (Node's own threads count too; its shells sleep 6 s) before the other one starts
          for (let i = 0; i < 200 && countArgv(marker) < 10; i++) await new Promise((r) => setTimeout(r, 25));
          if (countArgv(marker) < 10) assert.fail(`the bomb never ran: ${JSON.stringify(await bombing)}`);
          await new Promise((r) => setTimeout(r, 300));
          if (!shared)
            assert.equal(new Set(commandGroups().map((g) => path.basename(g))).size, 1, "the bomb's own cgroup");
          const other = await run(
            broker,
            p,
            sh('i=0; while [ $i -lt 20 ]; do sleep 1 & i=$((i+1)); done; wait; echo forked 20'),
            { timeoutMs: 30_000 },
          );
          const b = await bombing;
          assert.match((b.limitsHit ?? []).join('\n'), /process limit reached \(48\)/, `bomb: exit ${b.code}`);
          if (shared) {
            assert.ok(other.code !== 0 || other.stdout.trim() !== 'forked 20', 'the other command was starved');
          } else {
            assert.equal(other.stdout.trim(), 'forked 20', other.stderr);
            assert.equal(other.code, 0, other.stderr);
            assert.equal(other.limitsHit, undefined);
            assert.deepEqual(commandGroups(), [], "each command's own cgroup is removed when it ends");
            assert.ok(leftoverGroups().length > 0, 'the live broker still holds its own cgroup');
          }
        } finally {
          delete process.env.AGENT_SANDBOX_SHARED_BROKER_CGROUP;
          await broker.dispose();
        }
        assert.deepEqual(leftoverGroups(), [], 'no cgroup left after the broker is disposed');
      },
    );
  }
});

describe('linux sandbox: resource limits without a cgroup (RLIMIT_DATA)', () => {
  const withoutCgroup = async <T>(f: () => Promise<T>): Promise<T> => {
    process.env.AGENT_SANDBOX_NO_CGROUP = '1';
    try {
      return await f();
    } finally {
      delete process.env.AGENT_SANDBOX_NO_CGROUP;
    }
  };

  it('a memory hog cannot allocate past maxMemoryMb (its marker is never written); the notes say processes are not limited', async () => {
    const ws = tempDir('as-lim-');
    const marker = path.join(ws, 'hog-finished');
    const p = plan({ workspaceRoots: [ws], maxMemoryMb: 200 });
    const proc = await withoutCgroup(() => backend.spawn(p, { argv: HOG(marker, 400), cwd: ws, stdio: 'pipe' }));
    const exit = await proc.exited;
    assert.notEqual(exit.code, 0);
    assert.equal(fs.existsSync(marker), false);
    const notes = proc.enforcement.notes.join('\n');
    assert.match(notes, /memory: 200 MiB per process \(RLIMIT_DATA/);
    assert.match(notes, /processes: NOT limited/);
  });

  it('control: the same hog with a higher maxMemoryMb writes its marker', async () => {
    const ws = tempDir('as-lim-');
    const marker = path.join(ws, 'hog-finished');
    const r = await withoutCgroup(() =>
      run(backend, plan({ workspaceRoots: [ws], maxMemoryMb: 2048 }), HOG(marker, 400)),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.existsSync(marker), true);
  });

  it('the limit cannot be raised from inside (hard and soft are both set)', async () => {
    const ws = tempDir('as-lim-');
    const r = await withoutCgroup(() =>
      run(
        backend,
        plan({ workspaceRoots: [ws], maxMemoryMb: 200 }),
        sh('ulimit -H -d; ulimit -d unlimited && echo RAISED'),
      ),
    );
    assert.equal(r.stdout.split('\n')[0].trim(), String(200 * 1024));
    assert.doesNotMatch(r.stdout, /RAISED/);
  });
});

describe('linux sandbox: resource limits in status', () => {
  it('status names the mechanism sandboxes get here, and the RLIMIT fallback when no cgroup is used; the trial cgroup is not left', async () => {
    const details = (await backend.status()).details;
    assert.match(details.resourceLimits ?? '', /a cgroup per sandbox \(v[12], under \/|RLIMIT_DATA per process/);
    process.env.AGENT_SANDBOX_NO_CGROUP = '1';
    try {
      assert.match((await backend.status()).details.resourceLimits ?? '', /processes not limited/);
    } finally {
      delete process.env.AGENT_SANDBOX_NO_CGROUP;
    }
    assert.deepEqual(leftoverGroups(), []);
  });
});
