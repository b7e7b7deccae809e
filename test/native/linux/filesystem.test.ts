/**
 * Linux sandbox, filesystem: real processes under bubblewrap + Landlock. Each case pairs an allowed write that
 * must land on the host with a forbidden one that must fail and leave no trace.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { landlockAbi } from '../../../native-bindings/linux/landlock';
import type { LinuxPlan } from '../../../src/policy';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { coldBackend, hostDir, plan, run, sh, STATE_DIR, tempDir } from './helpers';

const backend = coldBackend();
after(() => backend.dispose());

const rnd = () => Math.random().toString(36).slice(2, 10);

describe('linux sandbox: writes', () => {
  it('writes inside a workspace root and sees the file on the host', async () => {
    const ws = tempDir('as-ws-');
    const r = await run(
      backend,
      plan({ workspaceRoots: [ws] }),
      sh('echo hello > inside.txt && mkdir -p a/b && echo 1 > a/b/c'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(ws, 'inside.txt'), 'utf8'), 'hello\n');
    assert.equal(fs.readFileSync(path.join(ws, 'a/b/c'), 'utf8'), '1\n');
  });

  it('denies writes outside the roots (home, host /tmp, /etc) and leaves nothing', async () => {
    const ws = tempDir('as-ws-');
    const hostTmp = tempDir('as-outside-');
    const visible = hostDir('as-outside-');
    const targets = [
      path.join(os.homedir(), `as-probe-${rnd()}`),
      path.join(hostTmp, 'f'),
      `/tmp/as-probe-${rnd()}`,
      path.join(visible, 'f'),
      `/etc/as-probe-${rnd()}`,
    ];
    for (const t of targets) {
      const r = await run(backend, plan({ workspaceRoots: [ws] }), sh(`echo x > '${t}'`));
      assert.equal(fs.existsSync(t), false, `${t} must not exist on the host`);
      // a new name under /tmp lands in the sandbox's private /tmp (the host's stays untouched); the rest fails:
      // read-only, or (a folder in the host's /tmp) not there at all inside
      if (t.startsWith('/tmp/as-probe-')) continue;
      assert.notEqual(r.code, 0, t);
      assert.match(r.stderr, /Read-only file system|Permission denied|Directory nonexistent/, `${t}: ${r.stderr}`);
    }
    const r = await run(backend, plan({ workspaceRoots: [ws] }), sh(`echo x > '${visible}/f'`));
    assert.match(r.stderr, /Read-only file system/);
  });

  it('denies writes through a symlink in the workspace that points outside', async () => {
    const ws = tempDir('as-ws-');
    const outside = hostDir('as-outside-');
    fs.symlinkSync(outside, path.join(ws, 'link'));
    fs.writeFileSync(path.join(ws, 'ok-target'), '');
    const r = await run(
      backend,
      plan({ workspaceRoots: [ws] }),
      sh('echo x > link/escaped; echo $? ; ln -s ok-target l2 && echo y > l2'),
    );
    assert.equal(fs.existsSync(path.join(outside, 'escaped')), false);
    assert.match(r.stderr, /Read-only file system|Permission denied/);
    assert.equal(fs.readFileSync(path.join(ws, 'ok-target'), 'utf8'), 'y\n', 'a symlink within the root still works');
  });

  it('denies writes through ".." out of the root', async () => {
    const parent = hostDir('as-parent-');
    const ws = path.join(parent, 'ws');
    fs.mkdirSync(ws);
    const r = await run(
      backend,
      plan({ workspaceRoots: [ws] }),
      sh(`echo x > ../escaped && echo wrote; echo x > "$PWD/../../escaped2" && echo wrote; echo y > sub-ok`),
    );
    assert.doesNotMatch(r.stdout, /wrote/);
    assert.deepEqual(fs.readdirSync(parent), ['ws']);
    assert.equal(fs.existsSync(path.join(ws, 'sub-ok')), true);
  });
});

describe('linux sandbox: protected paths', () => {
  const attempts = [
    'echo evil > .git/hooks/pre-commit',
    'echo "[core] hooksPath=x" >> .git/config',
    'echo evil > .vscode/tasks.json',
    'mkdir -p .agent-sandbox/x',
    'echo evil > .agent-sandbox/policy.json',
    'mv .git .git-moved',
    'mv .vscode .vscode-moved',
    'rm -rf .git/hooks',
    'rm -f .git/config',
  ];
  const script = (list: string[]) =>
    `for c in ${list.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}; do sh -c "$c" 2>/dev/null && echo "ALLOWED: $c"; done; echo ok > src.txt`;
  const tryAll = script(attempts);
  // When .git is missing, removing .git/hooks or .git/config "succeeds" vacuously; what must fail is creating them,
  // and removing or replacing the .git placeholder itself.
  const tryAllMissing = script([
    ...attempts.filter((a) => !a.startsWith('rm ')),
    'mkdir .git/hooks',
    'touch .git/config',
    'rm -rf .git',
    'rmdir .git',
    'rm -rf .vscode',
  ]);

  it('keeps existing protected paths read-only and unmovable', async () => {
    const ws = tempDir('as-ws-');
    fs.mkdirSync(path.join(ws, '.git/hooks'), { recursive: true });
    fs.writeFileSync(path.join(ws, '.git/config'), '[core]\n');
    fs.mkdirSync(path.join(ws, '.vscode'));
    fs.writeFileSync(path.join(ws, '.vscode/tasks.json'), '{}');
    fs.mkdirSync(path.join(ws, '.agent-sandbox'));
    const r = await run(backend, plan({ workspaceRoots: [ws] }), sh(tryAll));
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /ALLOWED/);
    assert.equal(fs.readFileSync(path.join(ws, 'src.txt'), 'utf8'), 'ok\n', 'ordinary files stay writable');
    assert.equal(fs.readFileSync(path.join(ws, '.git/config'), 'utf8'), '[core]\n');
    assert.equal(fs.readFileSync(path.join(ws, '.vscode/tasks.json'), 'utf8'), '{}');
    assert.deepEqual(fs.readdirSync(path.join(ws, '.git/hooks')), []);
    assert.deepEqual(fs.readdirSync(path.join(ws, '.agent-sandbox')), []);
    assert.equal(fs.existsSync(path.join(ws, '.git-moved')), false);
  });

  it('makes protected paths that do not exist yet uncreatable (empty placeholders only)', async () => {
    const ws = tempDir('as-ws-');
    const r = await run(
      backend,
      plan({ workspaceRoots: [ws] }),
      sh(`${tryAllMissing}; echo "git:[$(ls -A .git)] as:[$(ls -A .agent-sandbox)]"`),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /ALLOWED/);
    assert.match(r.stdout, /git:\[\] as:\[\]/, 'a missing .git is one empty read-only placeholder inside');
    assert.equal(fs.readFileSync(path.join(ws, 'src.txt'), 'utf8'), 'ok\n');
    // and once the sandbox has ended, the placeholders are gone: only what the command deliberately made is left
    assert.deepEqual(fs.readdirSync(ws), ['src.txt']);
  });

  it('lets other files under .git be written (pinning does not freeze the repository)', async () => {
    const ws = tempDir('as-ws-');
    fs.mkdirSync(path.join(ws, '.git/hooks'), { recursive: true });
    fs.writeFileSync(path.join(ws, '.git/HEAD'), 'ref: refs/heads/main\n'); // a repository (without HEAD, .git stays sealed)
    const r = await run(backend, plan({ workspaceRoots: [ws] }), sh('echo ref > .git/HEAD && mkdir .git/objects'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(ws, '.git/HEAD'), 'utf8'), 'ref\n');
  });
});

describe('linux sandbox: reads, modes and odd paths', () => {
  it('hides denyRead files and folders, other files stay readable', async () => {
    const ws = tempDir('as-ws-');
    const home = hostDir('as-home-');
    fs.mkdirSync(path.join(home, '.ssh'));
    fs.writeFileSync(path.join(home, '.ssh/id_ed25519'), 'SECRET-KEY');
    fs.writeFileSync(path.join(home, '.netrc'), 'SECRET-NETRC');
    fs.writeFileSync(path.join(home, 'public.txt'), 'PUBLIC');
    const p = plan({ workspaceRoots: [ws], denyRead: [path.join(home, '.ssh'), path.join(home, '.netrc')] });
    const r = await run(
      backend,
      p,
      sh(`cat '${home}/.ssh/id_ed25519' '${home}/.netrc' '${home}/public.txt'; ls -A '${home}/.ssh'`),
    );
    assert.doesNotMatch(r.stdout, /SECRET/);
    assert.match(r.stdout, /PUBLIC/);
    assert.equal(fs.readFileSync(path.join(home, '.ssh/id_ed25519'), 'utf8'), 'SECRET-KEY', 'host file untouched');
  });

  it('read-only mode: the workspace is not writable, the sandbox temp is', async () => {
    const ws = tempDir('as-ws-');
    const r = await run(
      backend,
      plan({ workspaceRoots: [ws], mode: 'read-only' }),
      sh('echo x > ro.txt; echo t > /tmp/t && cat /tmp/t && ls'),
    );
    assert.equal(fs.existsSync(path.join(ws, 'ro.txt')), false);
    assert.match(r.stderr, /Read-only file system|Permission denied/);
    assert.match(r.stdout, /^t$/m);
  });

  it('workspace paths with spaces, quotes and non-ASCII characters', async () => {
    const parent = hostDir('as-odd-');
    const ws = path.join(parent, `my "ws" it's ünïcødé ✓`);
    fs.mkdirSync(ws);
    const r = await run(
      backend,
      plan({ workspaceRoots: [ws] }),
      sh('echo hi > "$PWD/f.txt" && pwd; echo x > ../escape'),
    );
    assert.equal(fs.readFileSync(path.join(ws, 'f.txt'), 'utf8'), 'hi\n', r.stderr);
    assert.equal(r.stdout.trim().split('\n')[0], ws);
    assert.equal(fs.existsSync(path.join(parent, 'escape')), false);
  });
});

describe('linux sandbox: Landlock inside the real sandbox', () => {
  const abi = landlockAbi();
  /** The plan with `dir` bound writable by bubblewrap, and (when `allow`) also in Landlock's writable paths. */
  const widened = (ws: string, dir: string, allow: boolean): LinuxPlan => {
    const p = plan({ workspaceRoots: [ws] });
    const at = p.bwrapArgs.indexOf(p.tempDir) + 2; // right after `--bind <temp> /tmp`
    p.bwrapArgs.splice(at, 0, '--bind', dir, dir);
    if (allow) p.landlock.writablePaths.push(dir);
    return p;
  };
  for (const broker of [false, true]) {
    it(
      `${broker ? 'brokered' : 'cold'}: a folder the mounts leave writable but Landlock does not allow is still refused (skipped without Landlock)`,
      { skip: abi < 1 && 'this kernel has no Landlock' },
      async () => {
        const b = createLinuxBackend({ stateDir: STATE_DIR, broker });
        try {
          const ws = tempDir('as-ws-');
          const dir = hostDir('as-ll-');
          const denied = await run(b, widened(ws, dir, false), sh(`echo x > '${dir}/f'`));
          assert.notEqual(denied.code, 0);
          assert.match(denied.stderr, /Permission denied/, 'Landlock, not a read-only mount, refused it');
          assert.equal(fs.existsSync(path.join(dir, 'f')), false);
          // control: the same mount with Landlock allowing it is writable, so the refusal above was Landlock's
          const allowed = await run(b, widened(ws, dir, true), sh(`echo x > '${dir}/g'`));
          assert.equal(allowed.code, 0, allowed.stderr);
          assert.equal(fs.readFileSync(path.join(dir, 'g'), 'utf8'), 'x\n');
        } finally {
          await b.dispose();
        }
      },
    );
  }
});
