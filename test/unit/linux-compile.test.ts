/**
 * compile-linux: the bubblewrap argument order is the security argument (later mounts cover earlier ones), so it
 * is asserted exactly: private /tmp, roots, pinned ancestors, protected read-only binds on top, denyRead tmpfs,
 * hidden sockets, then namespace flags. Pure: a fake filesystem view stands in for the disk.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePlan, type CompileContext, type FsView, type LinuxPlan } from '../../src/policy';

function fakeFs(entries: Record<string, 'dir' | 'file' | 'socket'>, links: Record<string, string> = {}): FsView {
  return {
    realpath: (p) => links[p] ?? (entries[p] ? p : undefined),
    kind: (p) => entries[p] ?? 'missing',
  };
}

const ctx = (fs: FsView, env: Record<string, string> = {}): CompileContext => ({
  platform: 'linux', home: '/home/dev', userTemp: '/tmp', stateDir: '/home/dev/.local/state/agent-sandbox', env, fs,
});

function lin(input: object, fs: FsView, env: Record<string, string> = {}): LinuxPlan {
  const p = compilePlan({ workspaceRoots: ['/home/dev/repo'], ...input }, ctx(fs, env));
  assert.equal(p.platform, 'linux');
  return p as LinuxPlan;
}

const R = '/home/dev/repo';
const repoFs = fakeFs({
  [R]: 'dir', [`${R}/.git`]: 'dir', [`${R}/.git/hooks`]: 'dir', [`${R}/.git/config`]: 'file',
  '/home/dev/.ssh': 'dir', '/home/dev/.netrc': 'file', '/run/user': 'dir', '/run/user/1000': 'dir',
  '/run/user/1000/ssh.sock': 'socket', '/var/run/docker.sock': 'socket',
});

describe('compile-linux', () => {
  it('emits mounts in the secure order', () => {
    const p = lin({}, repoFs, { XDG_RUNTIME_DIR: '/run/user/1000', SSH_AUTH_SOCK: '/run/user/1000/ssh.sock' });
    assert.deepEqual(p.bwrapArgs, [
      '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc',
      '--bind', p.tempDir, '/tmp',
      '--bind', R, R,
      '--bind', `${R}/.git`, `${R}/.git`,
      '--ro-bind', `${R}/.git/hooks`, `${R}/.git/hooks`,
      '--ro-bind', `${R}/.git/config`, `${R}/.git/config`,
      '--ro-bind', `${R}/.vscode`, `${R}/.vscode`,
      '--ro-bind', `${R}/.agent-sandbox`, `${R}/.agent-sandbox`,
      '--tmpfs', '/home/dev/.ssh', '--remount-ro', '/home/dev/.ssh',
      '--ro-bind', '/dev/null', '/home/dev/.netrc',
      '--tmpfs', '/run/user', '--remount-ro', '/run/user',
      '--ro-bind', '/dev/null', '/var/run/docker.sock',
      '--tmpfs', '/run/user/1000', '--remount-ro', '/run/user/1000',
      '--ro-bind', '/dev/null', '/run/user/1000/ssh.sock',
      '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--unshare-net',
      '--die-with-parent', '--new-session',
    ]);
    assert.deepEqual(p.placeholders, [
      { path: `${R}/.vscode`, kind: 'dir' },
      { path: `${R}/.agent-sandbox`, kind: 'dir' },
    ]);
    assert.equal(p.confined, true);
  });

  it('missing .git gets placeholders for hooks (dir) and config (file) and is pinned', () => {
    const p = lin({}, fakeFs({ [R]: 'dir' }));
    assert.deepEqual(p.placeholders.slice(0, 2), [
      { path: `${R}/.git/hooks`, kind: 'dir' },
      { path: `${R}/.git/config`, kind: 'file' },
    ]);
    const i = p.bwrapArgs.indexOf(`${R}/.git`);
    assert.equal(p.bwrapArgs[i - 1], '--bind');
  });

  it('a .git file (worktree) is itself made read-only instead of pinned', () => {
    const p = lin({}, fakeFs({ [R]: 'dir', [`${R}/.git`]: 'file' }));
    const a = p.bwrapArgs;
    assert.ok(a.join(' ').includes(`--ro-bind ${R}/.git ${R}/.git`));
    assert.ok(!a.includes(`${R}/.git/hooks`));
    assert.ok(!p.placeholders.some((x) => x.path.startsWith(`${R}/.git/`)));
  });

  it('a symlinked ancestor is made read-only, never pinned (a pin would follow it out of the root)', () => {
    const p = lin({}, fakeFs({ [R]: 'dir', [`${R}/.git`]: 'dir' }, { [`${R}/.git`]: '/elsewhere/gitdir' }));
    assert.ok(p.bwrapArgs.join(' ').includes(`--ro-bind ${R}/.git ${R}/.git`));
    assert.ok(!p.bwrapArgs.join(' ').includes(`--bind ${R}/.git ${R}/.git`));
  });

  it('online: no network namespace, no socket filter, io_uring allowed; TIOCSTI still denied', () => {
    const p = lin({ network: 'online' }, repoFs);
    assert.ok(!p.bwrapArgs.includes('--unshare-net'));
    assert.equal(p.seccomp.allowSocketFamilies, null);
    assert.ok(!p.seccomp.denySyscalls.includes('io_uring_setup'));
    assert.ok(p.seccomp.denyIoctls.includes('TIOCSTI'));
  });

  it('offline: io_uring is denied too (it can open sockets without socket())', () => {
    assert.ok(lin({}, repoFs).seccomp.denySyscalls.includes('io_uring_setup'));
  });

  it('read-only: a workspace under /tmp is bound back read-only; nothing but /tmp and /dev is writable', () => {
    const ws = '/tmp/ws';
    const p = compilePlan({ workspaceRoots: [ws], mode: 'read-only' }, ctx(fakeFs({ [ws]: 'dir' }))) as LinuxPlan;
    assert.ok(p.bwrapArgs.join(' ').includes(`--bind ${p.tempDir} /tmp --ro-bind ${ws} ${ws}`));
    assert.deepEqual(p.landlock.writablePaths, ['/tmp', '/dev']);
  });

  it('full-access: no confinement, only the process-lifetime namespace', () => {
    const p = lin({ mode: 'full-access', allowFullAccess: true }, repoFs);
    assert.equal(p.confined, false);
    assert.ok(p.bwrapArgs.includes('--unshare-pid'));
    assert.ok(p.bwrapArgs.includes('--die-with-parent'));
    assert.deepEqual(p.seccomp.denySyscalls, []);
  });
});
