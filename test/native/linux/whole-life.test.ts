/**
 * Linux sandbox, protections that hold for a sandbox's whole life (issue 12 §1) and no trace once the last one
 * ends (§6), judged on the host. The host replacing a protected inode (git's rename of config.lock over
 * .git/config, `git clean` removing a placeholder) detaches the read-only mount inside a running sandbox: the guard
 * stops it (exit 125, reason given) and a broker is retired so the next command gets fresh mounts. Controls run
 * the same attack with the guard switched off and show the host file written. Uninstall while a sandbox runs keeps
 * what it relies on. Placeholders stay while any sandbox of the workspace runs and go with the last one.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { LinuxPlan } from '../../../src/policy';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { MountGuard } from '../../../src/sandbox/linux/guard';
import { removeLinuxSandboxState } from '../../../src/sandbox/linux/uninstall';
import { createPlaceholder, removePlaceholders } from '../../../src/sandbox/linux/placeholders';
import type { SandboxBackend } from '../../../src/sandbox/types';
import { coldBackend, hostDir, plan, run, sh, STATE_DIR, tempDir, type Result } from './helpers';

const backend = coldBackend();
after(() => backend.dispose());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A command that, given `afterMs`, waits until the host has acted (the trigger file whileRunning creates right after
 * its host action) and `afterMs` more, then tries `attempt` every 20 ms for `seconds`, printing WROTE when it worked. The guard
 * stops a sandbox within a reaction window after the host's change (milliseconds on a quiet machine, tens of them
 * under load); a write inside that window can still land, a known limit the README states. What these tests prove
 * is that once `afterMs` has passed the sandbox is stopped and nothing is written; each control tries the same
 * thing at the same moment with the guard off, and writes.
 */
const TRIGGER = '.as-host-acted';
const keepTrying = (attempt: string, seconds = 2, afterMs?: number) =>
  sh(
    (afterMs === undefined ? '' : `while [ ! -e ${TRIGGER} ]; do sleep 0.01; done; sleep ${afterMs / 1000}; `) +
      `i=0; while [ $i -lt ${seconds * 50} ]; do (${attempt}) 2>/dev/null && echo WROTE; sleep 0.02; i=$((i+1)); done`,
  );

/** Runs `argv`, does `hostAction` once the sandbox has been up for a while, and returns the command's result. */
async function whileRunning(b: SandboxBackend, p: LinuxPlan, argv: string[], hostAction: () => void): Promise<Result> {
  const pending = run(b, p, argv);
  await sleep(800);
  hostAction();
  const trigger = path.join(p.workspaceRoots[0], TRIGGER);
  fs.writeFileSync(trigger, '');
  try {
    return await pending;
  } finally {
    fs.rmSync(trigger, { force: true });
  }
}

/** Runs `fn` with the guard switched off (the control: what happens without it). */
async function withoutGuard<T>(fn: () => Promise<T>): Promise<T> {
  const changed = Object.getOwnPropertyDescriptor(MountGuard.prototype, 'changed')!;
  MountGuard.prototype.changed = () => undefined;
  try {
    return await fn();
  } finally {
    Object.defineProperty(MountGuard.prototype, 'changed', changed);
  }
}

/** bwrap processes that are this process's own children (sandboxes it started and has not ended). */
function ownBwraps(): number[] {
  return fs.readdirSync('/proc').flatMap((e) => {
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return /^\d+$/.test(e) && ppid === process.pid && stat.includes('(bwrap)') ? [Number(e)] : [];
    } catch {
      return [];
    }
  });
}

/** What `git config` does: write config.lock, rename it over config. */
function hostGitConfig(ws: string, content: string): void {
  fs.writeFileSync(path.join(ws, '.git', 'config.lock'), content);
  fs.renameSync(path.join(ws, '.git', 'config.lock'), path.join(ws, '.git', 'config'));
}

function repo(): string {
  const ws = tempDir('as-life-');
  fs.mkdirSync(path.join(ws, '.git', 'hooks'), { recursive: true });
  fs.writeFileSync(path.join(ws, '.git', 'config'), '[core]\n');
  // A repository (policy v2 protects a .git without HEAD whole, where nothing inside can be swapped in).
  fs.writeFileSync(path.join(ws, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  return ws;
}

describe('linux sandbox: protections for the whole life of a sandbox', () => {
  it('cold: the host replacing .git/config by rename (git config) stops the running command: a write tried 300 ms after the change is refused (control: without the guard it lands; the reaction window itself is a known limit)', async () => {
    const ws = repo();
    const p = plan({ workspaceRoots: [ws] });
    const r = await whileRunning(backend, p, keepTrying('echo pwned >> .git/config', 2, 300), () =>
      hostGitConfig(ws, '[user]\n\tname = host\n'),
    );
    assert.equal(r.code, 125, `${r.stdout} ${r.stderr}`);
    assert.match(r.stopped ?? '', /\.git\/config was replaced on the host/);
    assert.doesNotMatch(r.stdout, /WROTE/);
    assert.equal(
      fs.readFileSync(path.join(ws, '.git', 'config'), 'utf8'),
      '[user]\n\tname = host\n',
      "only the host's write",
    );

    const ws2 = repo();
    const c = await withoutGuard(() =>
      whileRunning(backend, plan({ workspaceRoots: [ws2] }), keepTrying('echo pwned >> .git/config', 2, 300), () =>
        hostGitConfig(ws2, '[user]\n\tname = host\n'),
      ),
    );
    assert.match(
      fs.readFileSync(path.join(ws2, '.git', 'config'), 'utf8'),
      /pwned/,
      `control: the detached mount is writable (${c.stdout})`,
    );
  });

  it('cold: git clean removing a placeholder (.vscode) stops the running command: .vscode/tasks.json tried 300 ms after the change is never created (control: without the guard it is; the reaction window itself is a known limit)', async () => {
    const ws = tempDir('as-life-');
    const attempt = 'mkdir -p .vscode && echo evil > .vscode/tasks.json';
    const r = await whileRunning(backend, plan({ workspaceRoots: [ws] }), keepTrying(attempt, 2, 300), () =>
      fs.rmdirSync(path.join(ws, '.vscode')),
    );
    assert.equal(r.code, 125, `${r.stdout} ${r.stderr}`);
    assert.match(r.stopped ?? '', /\.vscode was (removed|replaced) on the host/);
    assert.equal(fs.existsSync(path.join(ws, '.vscode', 'tasks.json')), false);

    const ws2 = tempDir('as-life-');
    await withoutGuard(() =>
      whileRunning(backend, plan({ workspaceRoots: [ws2] }), keepTrying(attempt, 2, 300), () =>
        fs.rmdirSync(path.join(ws2, '.vscode')),
      ),
    );
    assert.equal(
      fs.readFileSync(path.join(ws2, '.vscode', 'tasks.json'), 'utf8'),
      'evil\n',
      'control: the path became writable',
    );
  });

  it('broker: after the host replaces .git/config, the next brokered command gets fresh mounts and cannot write it (control: the old broker could)', async () => {
    const brokered = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const ws = repo();
      const p = plan({ workspaceRoots: [ws] });
      assert.equal((await run(brokered, p, ['true'])).code, 0);
      hostGitConfig(ws, '[user]\n\tname = host\n');
      await sleep(200);
      const r = await run(brokered, p, sh('echo pwned >> .git/config && echo WROTE; true'));
      assert.doesNotMatch(r.stdout, /WROTE/, r.stderr);
      assert.equal(fs.readFileSync(path.join(ws, '.git', 'config'), 'utf8'), '[user]\n\tname = host\n');
    } finally {
      await brokered.dispose();
    }
    await withoutGuard(async () => {
      const old = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
      try {
        const ws = repo();
        const p = plan({ workspaceRoots: [ws] });
        await run(old, p, ['true']);
        hostGitConfig(ws, '[user]\n\tname = host\n');
        await sleep(200);
        await run(old, p, sh('echo pwned >> .git/config'));
        assert.match(
          fs.readFileSync(path.join(ws, '.git', 'config'), 'utf8'),
          /pwned/,
          "control: the old broker's mount was detached",
        );
      } finally {
        await old.dispose();
      }
    });
  });

  it('uninstall while a sandbox runs keeps its placeholders, and the protection holds (control: removing them regardless makes the path writable)', async () => {
    const ws = tempDir('as-life-');
    const attempt = 'mkdir -p .vscode && echo evil > .vscode/tasks.json';
    let kept: string[] = [];
    const r = await whileRunning(backend, plan({ workspaceRoots: [ws] }), keepTrying(attempt, 2), () => {
      kept = removeLinuxSandboxState(STATE_DIR).kept.map((k) => k.path);
    });
    assert.equal(r.code, 0, `${r.stdout} ${r.stderr} ${r.stopped}`);
    assert.ok(
      kept.includes(path.join(ws, '.vscode')),
      `uninstall reported the live placeholder as kept: ${kept.join(', ')}`,
    );
    assert.doesNotMatch(r.stdout, /WROTE/);
    assert.deepEqual(fs.readdirSync(ws), [], 'and once the sandbox ended, its placeholders went with it');

    const ws2 = tempDir('as-life-');
    await withoutGuard(() =>
      whileRunning(backend, plan({ workspaceRoots: [ws2] }), keepTrying(attempt, 2), () =>
        removePlaceholders(STATE_DIR),
      ),
    );
    assert.equal(
      fs.readFileSync(path.join(ws2, '.vscode', 'tasks.json'), 'utf8'),
      'evil\n',
      'control: the old uninstall lifted it',
    );
  });
});

describe('linux sandbox: no trace after the last sandbox of a workspace', () => {
  it('two overlapping runs: the placeholders stay until the second ends, then the workspace is exactly as before', async () => {
    const ws = tempDir('as-trace-');
    fs.writeFileSync(path.join(ws, 'mine.txt'), 'x');
    const p = plan({ workspaceRoots: [ws] });
    const long = run(backend, p, keepTrying('mkdir -p .vscode/x', 2));
    await sleep(500);
    const short = await run(backend, p, sh('echo made > made.txt'));
    assert.equal(short.code, 0);
    assert.deepEqual(
      fs.readdirSync(ws).sort(),
      ['.agent-sandbox', '.env', '.envrc', '.git', '.vscode', 'made.txt', 'mine.txt'],
      'the first sandbox still relies on them',
    );
    const l = await long;
    assert.equal(l.code, 0, l.stopped);
    assert.doesNotMatch(l.stdout, /WROTE/);
    assert.deepEqual(fs.readdirSync(ws).sort(), ['made.txt', 'mine.txt']);
  });

  it('broker: placeholders stay while the broker lives and go when it is disposed', async () => {
    const ws = tempDir('as-trace-');
    const brokered = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      assert.equal((await run(brokered, plan({ workspaceRoots: [ws] }), ['true'])).code, 0);
      assert.deepEqual(fs.readdirSync(ws).sort(), ['.agent-sandbox', '.env', '.envrc', '.git', '.vscode']);
    } finally {
      await brokered.dispose();
    }
    assert.deepEqual(fs.readdirSync(ws), []);
  });

  it('broker: dispose resolves only after every broker, one retired just before included, has released its live record, and nothing is written to the state folder afterwards', async () => {
    const brokered = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    const ws = repo();
    const p = plan({ workspaceRoots: [ws] });
    assert.equal((await run(brokered, p, ['true'])).code, 0);
    hostGitConfig(ws, '[user]\n\tname = host\n');
    // Synchronously retires the broker whose mount no longer holds, and asks a new one for the command.
    const next = brokered.spawn(p, { argv: ['true'], cwd: ws, stdio: 'pipe' }).then(
      (proc) => proc.stdin?.end(),
      () => undefined,
    );
    await brokered.dispose();
    const live = path.join(STATE_DIR, 'live');
    const records = () => fs.readdirSync(live).filter((n) => n.endsWith('.json'));
    let left: number[] = [];
    try {
      assert.deepEqual(records(), [], 'a live record was still there when dispose resolved');
      const writes: string[] = [];
      const watchers = [live, STATE_DIR].map((d) => fs.watch(d, (e, name) => writes.push(`${e} ${d}/${name}`)));
      await sleep(1000);
      watchers.forEach((w) => w.close());
      await next;
      left = ownBwraps();
      assert.deepEqual(writes, [], 'written after dispose resolved');
      assert.deepEqual(records(), []);
    } finally {
      // A broker launched after dispose (for the command asked for concurrently) would outlive the backend.
      left = [...new Set([...left, ...ownBwraps()])];
      for (const pid of left) process.kill(pid, 'SIGKILL');
    }
    assert.deepEqual(left, [], 'a broker process was left running after dispose');
  });

  it("taking placeholders back: a folder above one swapped for a symbolic link between the check and the removal cannot redirect the removal to the host (the host's empty folder survives; control: a path-based removal after the same swap removes it)", () => {
    /** A placeholder ws/sub/<name> and a host folder holding an empty `<name>` the user owns (the marker). */
    const setUp = (name: string, kind: 'dir' | 'file') => {
      const state = tempDir('as-ph-state-');
      const ws = tempDir('as-ph-ws-');
      fs.mkdirSync(path.join(ws, 'sub'));
      const target = path.join(ws, 'sub', name);
      createPlaceholder(state, target, kind);
      const host = hostDir('as-ph-host-');
      if (kind === 'dir') fs.mkdirSync(path.join(host, name));
      else fs.writeFileSync(path.join(host, name), '');
      // What a sandbox writing above the workspace does: the folder moves away and a link to the host takes its name.
      const swap = () => {
        fs.renameSync(path.join(ws, 'sub'), path.join(ws, 'sub-real'));
        fs.symlinkSync(host, path.join(ws, 'sub'));
      };
      return { state, ws, target, marker: path.join(host, name), swap };
    };
    /** Runs `fn` with the swap made on the first look inside what is being taken back (after the identity check). */
    const swappingOnLook = (swap: () => void, watched: (p: string) => boolean, fn: () => void) => {
      // The module object itself (the namespace import's bindings are read-only), so the code under test sees it.
      const fsm = createRequire(__filename)('node:fs') as typeof fs;
      const [readdir, readFile] = [fsm.readdirSync, fsm.readFileSync];
      let swapped = false;
      const hook = (p: unknown) => {
        if (!swapped && (typeof p === 'number' || watched(String(p)))) {
          swapped = true;
          swap();
        }
      };
      fsm.readdirSync = ((p: fs.PathLike, ...rest: unknown[]) => {
        hook(p);
        return (readdir as (...a: unknown[]) => unknown)(p, ...rest);
      }) as typeof fs.readdirSync;
      fsm.readFileSync = ((p: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
        hook(p);
        return (readFile as (...a: unknown[]) => unknown)(p, ...rest);
      }) as typeof fs.readFileSync;
      try {
        fn();
      } finally {
        fsm.readdirSync = readdir;
        fsm.readFileSync = readFile;
      }
      assert.ok(swapped, 'the swap never happened: the test did not exercise the race');
    };
    for (const [name, kind] of [
      ['.vscode', 'dir'],
      ['.envrc', 'file'],
    ] as const) {
      const t = setUp(name, kind);
      const looks = (p: string) => p === t.target || /^\/proc\/self\/fd\/\d+$/.test(p);
      swappingOnLook(t.swap, looks, () => removePlaceholders(t.state));
      assert.ok(fs.existsSync(t.marker), `${name}: the host's ${kind} was removed through the swapped link`);
      assert.ok(
        !fs.existsSync(path.join(t.ws, 'sub-real', name)),
        `${name}: the placeholder itself was not taken back`,
      );
      // Control: the same swap before a removal by path removes the host's entry.
      const c = setUp(name, kind);
      c.swap();
      if (kind === 'dir') fs.rmdirSync(c.target);
      else fs.unlinkSync(c.target);
      assert.ok(!fs.existsSync(c.marker), 'control: a path-based removal followed the link');
    }
  });
});
