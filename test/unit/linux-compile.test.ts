/**
 * compile-linux: the bubblewrap argument order is the security argument (later mounts cover earlier ones), so it
 * is asserted exactly: private /tmp, roots, pinned ancestors, protected read-only binds on top, denyRead tmpfs,
 * hidden sockets, then namespace flags. Pure: a fake filesystem view stands in for the disk.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePlan, type CompileContext, type FsView, type LinuxPlan } from '../../src/policy';
import { linuxReadRules, renderPlan } from '../../src/policy/render';

function fakeFs(entries: Record<string, 'dir' | 'file' | 'socket'>, links: Record<string, string> = {}): FsView {
  return {
    realpath: (p) => links[p] ?? (entries[p] ? p : undefined),
    kind: (p) => entries[p] ?? 'missing',
  };
}

const ctx = (fs: FsView, env: Record<string, string> = {}): CompileContext => ({
  platform: 'linux',
  home: '/home/dev',
  userTemp: '/tmp',
  stateDir: '/home/dev/.local/state/agent-sandbox',
  env,
  fs,
});

function lin(input: object, fs: FsView, env: Record<string, string> = {}): LinuxPlan {
  const p = compilePlan({ workspaceRoots: ['/home/dev/repo'], ...input }, ctx(fs, env));
  assert.equal(p.platform, 'linux');
  return p as LinuxPlan;
}

const R = '/home/dev/repo';
const repoFs = fakeFs(
  {
    [R]: 'dir',
    [`${R}/.git`]: 'dir',
    [`${R}/.git/HEAD`]: 'file',
    [`${R}/.git/hooks`]: 'dir',
    [`${R}/.git/config`]: 'file',
    '/home/dev/.ssh': 'dir',
    '/home/dev/.netrc': 'file',
    '/run': 'dir',
    '/run/user': 'dir',
    '/run/user/1000': 'dir',
    '/run/user/1000/ssh.sock': 'socket',
    '/var/run': 'dir',
    '/var/run/docker.sock': 'socket',
  },
  { '/var/run': '/run', '/var/run/docker.sock': '/run/docker.sock' },
);

describe('compile-linux', () => {
  it('emits mounts in the secure order', () => {
    const p = lin({}, repoFs, { XDG_RUNTIME_DIR: '/run/user/1000', SSH_AUTH_SOCK: '/run/user/1000/ssh.sock' });
    assert.deepEqual(p.bwrapArgs, [
      '--ro-bind',
      '/',
      '/',
      '--dev',
      '/dev',
      '--proc',
      '/proc',
      '--bind',
      p.tempDir,
      '/tmp',
      '--bind',
      R,
      R,
      '--bind',
      `${R}/.git`,
      `${R}/.git`,
      '--ro-bind',
      `${R}/.git/hooks`,
      `${R}/.git/hooks`,
      '--ro-bind',
      `${R}/.git/config`,
      `${R}/.git/config`,
      '--ro-bind',
      `${R}/.git/commondir`,
      `${R}/.git/commondir`,
      '--ro-bind',
      `${R}/.vscode`,
      `${R}/.vscode`,
      '--ro-bind',
      `${R}/.agent-sandbox`,
      `${R}/.agent-sandbox`,
      '--ro-bind',
      `${R}/.envrc`,
      `${R}/.envrc`,
      '--ro-bind',
      `${R}/.env`,
      `${R}/.env`,
      // inside every gitdir: everything git executes from (policy v2), with placeholders when missing
      '--ro-bind',
      `${R}/.git/config.worktree`,
      `${R}/.git/config.worktree`,
      '--ro-bind',
      `${R}/.git/modules`,
      `${R}/.git/modules`,
      '--ro-bind',
      `${R}/.git/worktrees`,
      `${R}/.git/worktrees`,
      '--ro-bind',
      `${R}/.git/remotes`,
      `${R}/.git/remotes`,
      '--ro-bind',
      `${R}/.git/branches`,
      `${R}/.git/branches`,
      // Shallowest first; /run/user/1000 and its ssh.sock are already hidden by /run (a mount point for them
      // could not be made in the read-only tmpfs: bwrap would exit 1 on every desktop); /var/run is /run.
      '--tmpfs',
      '/run',
      '--remount-ro',
      '/run',
      '--tmpfs',
      '/home/dev/.ssh',
      '--remount-ro',
      '/home/dev/.ssh',
      '--ro-bind',
      '/dev/null',
      '/home/dev/.netrc',
      '--tmpfs',
      '/home/dev/.local/state/agent-sandbox',
      '--remount-ro',
      '/home/dev/.local/state/agent-sandbox',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-cgroup-try',
      '--unshare-net',
      '--die-with-parent',
      '--new-session',
      '--cap-drop',
      'ALL',
    ]);
    assert.deepEqual(p.placeholders, [
      { path: `${R}/.git/commondir`, kind: 'file', content: '.\n' },
      { path: `${R}/.vscode`, kind: 'dir' },
      { path: `${R}/.agent-sandbox`, kind: 'dir' },
      { path: `${R}/.envrc`, kind: 'file' },
      { path: `${R}/.env`, kind: 'file' },
      { path: `${R}/.git/config.worktree`, kind: 'file' },
      { path: `${R}/.git/modules`, kind: 'dir' },
      { path: `${R}/.git/worktrees`, kind: 'dir' },
      { path: `${R}/.git/remotes`, kind: 'dir' },
      { path: `${R}/.git/branches`, kind: 'dir' },
    ]);
    assert.equal(p.confined, true);
  });

  it('a missing .git becomes one read-only empty .git placeholder (no half-made repository inside it)', () => {
    const p = lin({}, fakeFs({ [R]: 'dir' }));
    assert.deepEqual(p.placeholders, [
      { path: `${R}/.git`, kind: 'dir' },
      { path: `${R}/.vscode`, kind: 'dir' },
      { path: `${R}/.agent-sandbox`, kind: 'dir' },
      { path: `${R}/.envrc`, kind: 'file' },
      { path: `${R}/.env`, kind: 'file' },
    ]);
    const a = p.bwrapArgs.join(' ');
    assert.ok(a.includes(`--ro-bind ${R}/.git ${R}/.git`));
    assert.ok(!a.includes(`--bind ${R}/.git ${R}/.git`), 'not pinned writable');
    assert.ok(!a.includes(`${R}/.git/`), 'nothing below the placeholder is mounted or created');
  });

  it('an existing .git without hooks gets a hooks placeholder and a pinned .git', () => {
    const p = lin(
      {},
      fakeFs({ [R]: 'dir', [`${R}/.git`]: 'dir', [`${R}/.git/HEAD`]: 'file', [`${R}/.git/config`]: 'file' }),
    );
    assert.deepEqual(p.placeholders[0], { path: `${R}/.git/hooks`, kind: 'dir' });
    const a = p.bwrapArgs.join(' ');
    assert.ok(a.includes(`--bind ${R}/.git ${R}/.git`));
    assert.ok(a.includes(`--ro-bind ${R}/.git/hooks ${R}/.git/hooks`));
  });

  it('a missing .git/commondir gets a placeholder naming the repository itself (an empty one breaks git)', () => {
    const p = lin({}, repoFs);
    assert.deepEqual(
      p.placeholders.find((x) => x.path === `${R}/.git/commondir`),
      { path: `${R}/.git/commondir`, kind: 'file', content: '.\n' },
    );
    assert.ok(p.bwrapArgs.join(' ').includes(`--ro-bind ${R}/.git/commondir ${R}/.git/commondir`));
  });

  it('a missing file-like protected path gets an empty file placeholder', () => {
    const p = lin({ protectedPaths: ['Makefile'] }, repoFs);
    assert.deepEqual(
      p.placeholders.find((x) => x.path === `${R}/Makefile`),
      { path: `${R}/Makefile`, kind: 'file' },
    );
  });

  it('a workspace inside a hidden folder ($XDG_RUNTIME_DIR) is bound back; the rest stays hidden', () => {
    const X = '/var/xdg';
    const W = `${X}/ws`;
    const f = fakeFs({
      [X]: 'dir',
      [W]: 'dir',
      [`${X}/bus`]: 'socket',
      [`${W}/.git`]: 'dir',
      [`${W}/.git/HEAD`]: 'file',
      [`${W}/.git/hooks`]: 'dir',
      [`${W}/.git/config`]: 'file',
    });
    const p = compilePlan(
      { workspaceRoots: [W] },
      ctx(f, { XDG_RUNTIME_DIR: X, SSH_AUTH_SOCK: `${X}/bus` }),
    ) as LinuxPlan;
    const a = p.bwrapArgs.join(' ');
    assert.ok(
      a.includes(
        `--tmpfs ${X} --dir ${W} --remount-ro ${X} --bind ${W} ${W} --bind ${W}/.git ${W}/.git ` +
          `--ro-bind ${W}/.git/hooks ${W}/.git/hooks --ro-bind ${W}/.git/config ${W}/.git/config ` +
          `--ro-bind ${W}/.git/commondir ${W}/.git/commondir`,
      ),
      a,
    );
    assert.equal(p.bwrapArgs.filter((x) => x === W).length, 3, 'bound once, after the tmpfs (plus --dir)');
    assert.ok(!a.includes(`${X}/bus`), 'the socket is already hidden by the tmpfs');
  });

  it('a read-only workspace inside a hidden folder is bound back read-only', () => {
    const X = '/var/xdg';
    const W = `${X}/ws`;
    const p = compilePlan(
      { workspaceRoots: [W], mode: 'read-only' },
      ctx(fakeFs({ [X]: 'dir', [W]: 'dir' }), { XDG_RUNTIME_DIR: X }),
    ) as LinuxPlan;
    assert.ok(p.bwrapArgs.join(' ').includes(`--tmpfs ${X} --dir ${W} --remount-ro ${X} --ro-bind ${W} ${W}`));
  });

  it('a credential folder inside a workspace that is itself inside a hidden folder stays hidden', () => {
    const X = '/var/xdg';
    const W = `${X}/ws`;
    const p = compilePlan(
      { workspaceRoots: [W], denyRead: [`${W}/secrets`] },
      ctx(fakeFs({ [X]: 'dir', [W]: 'dir', [`${W}/secrets`]: 'dir' }), { XDG_RUNTIME_DIR: X }),
    ) as LinuxPlan;
    const a = p.bwrapArgs.join(' ');
    assert.ok(a.indexOf(`--bind ${W} ${W}`) < a.indexOf(`--tmpfs ${W}/secrets`), a);
  });

  it('a .git file (worktree) is itself made read-only instead of pinned', () => {
    const p = lin({}, fakeFs({ [R]: 'dir', [`${R}/.git`]: 'file' }));
    const a = p.bwrapArgs;
    assert.ok(a.join(' ').includes(`--ro-bind ${R}/.git ${R}/.git`));
    assert.ok(!a.includes(`${R}/.git/hooks`));
    assert.ok(!p.placeholders.some((x) => x.path.startsWith(`${R}/.git/`)));
  });

  it('a symlinked .git directly in the root is refused, naming the link (it could be replaced: never half-protect)', () => {
    assert.throws(
      () => lin({}, fakeFs({ [R]: 'dir', [`${R}/.git`]: 'dir' }, { [`${R}/.git`]: '/elsewhere/gitdir' })),
      (e: Error) => e.message.includes(`symbolic link ${R}/.git,`) && e.message.includes('nothing was run'),
    );
  });

  it('online: its own network namespace (slirp4netns, no host loopback), no socket filter, io_uring allowed; TIOCSTI still denied', () => {
    const p = lin({ network: 'online' }, repoFs);
    assert.ok(p.bwrapArgs.includes('--unshare-net'));
    assert.equal(p.userNet, 'slirp4netns');
    const shared = lin({ network: 'online', allowHostLoopback: true }, repoFs);
    assert.ok(!shared.bwrapArgs.includes('--unshare-net'), 'allowHostLoopback: the host network');
    assert.equal(shared.userNet, undefined);
    assert.equal(p.seccomp.allowSocketFamilies, null);
    assert.ok(!p.seccomp.denySyscalls.includes('io_uring_setup'));
    assert.ok(p.seccomp.denyIoctls.includes('TIOCSTI'));
  });

  it('allowlist: private network namespace, TCP-only sockets, Landlock connect only to the relay ports, presets expanded, resolver sockets hidden', () => {
    const p = lin(
      { network: 'allowlist', allowedDomains: ['@npm', 'example.org:443'], deniedDomains: ['evil.example.org'] },
      fakeFs({ [R]: 'dir', '/run': 'dir', '/run/nscd': 'dir' }),
    );
    assert.ok(p.bwrapArgs.includes('--unshare-net'));
    assert.deepEqual(p.seccomp.allowSocketFamilies, ['AF_UNIX']);
    assert.deepEqual(p.seccomp.tcpOnlySocketFamilies, ['AF_INET', 'AF_INET6']);
    assert.ok(p.seccomp.denySyscalls.includes('io_uring_setup'));
    assert.deepEqual(p.landlock.connectTcpPorts, [3128, 1080]);
    assert.ok(p.hiddenSockets.includes('/run'), "the resolver daemons' sockets go with /run, hidden whole");
    assert.deepEqual(p.allowlist?.allowed, [
      'registry.npmjs.org',
      'registry.yarnpkg.com',
      'registry.npmjs.com',
      'example.org:443',
    ]);
    assert.deepEqual(p.allowlist?.denied, ['evil.example.org']);
    assert.deepEqual(
      p.allowlist?.presets.map((x) => x.name),
      ['@npm'],
    );
    assert.deepEqual(p.allowlist?.endpoint, { http: 'http://127.0.0.1:3128', socks: 'socks5h://127.0.0.1:1080' });
    assert.match(p.allowlist?.enforcement ?? '', /private network namespace/);
    assert.deepEqual(p.proxyRelay, {
      httpSocket: '/dev/agent-sandbox-proxy/http.sock',
      socksSocket: '/dev/agent-sandbox-proxy/socks.sock',
      host: '127.0.0.1',
      httpPort: 3128,
      socksPort: 1080,
    });
    assert.equal(p.env.set.AGENT_SANDBOX_NETWORK, 'allowlist');
  });

  it('offline and online plans carry no allowlist, relay or port rules', () => {
    for (const network of ['offline', 'online']) {
      const p = lin({ network }, repoFs);
      assert.equal(p.allowlist, undefined);
      assert.equal(p.proxyRelay, undefined);
      assert.equal(p.landlock.connectTcpPorts, undefined);
      assert.equal(p.seccomp.tcpOnlySocketFamilies, undefined);
    }
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

  it('/run and /var/run are hidden whole, in both modes, with only the resolv.conf target bound back', () => {
    const fs = fakeFs(
      {
        [R]: 'dir',
        '/run': 'dir',
        '/var/run': 'dir',
        '/run/dbus/system_bus_socket': 'socket',
        '/run/screen': 'dir',
        '/run/systemd/resolve/stub-resolv.conf': 'file',
        '/etc/resolv.conf': 'file',
      },
      { '/etc/resolv.conf': '/run/systemd/resolve/stub-resolv.conf' },
    );
    for (const network of ['offline', 'online'] as const) {
      const p = lin({ network }, fs);
      const a = p.bwrapArgs.join(' ');
      assert.ok(
        a.includes(
          '--tmpfs /run --ro-bind /run/systemd/resolve/stub-resolv.conf ' +
            '/run/systemd/resolve/stub-resolv.conf --remount-ro /run',
        ),
        a,
      );
      assert.ok(a.includes('--tmpfs /var/run --remount-ro /var/run'), a);
      assert.ok(!a.includes('/run/screen') && !a.includes('system_bus_socket'), 'nothing else under /run is named');
      assert.deepEqual(p.runBindBacks, [
        { path: '/run/systemd/resolve/stub-resolv.conf', reason: '/etc/resolv.conf points here (name resolution)' },
      ]);
      assert.ok(
        !p.guardedPaths.includes('/run/systemd/resolve/stub-resolv.conf'),
        'a rewritten resolv.conf stops nothing',
      );
    }
  });

  it('every listening socket outside the roots is hidden (home included); those in a root or the host /tmp are not', () => {
    const sock = '/home/dev/.cache/git/credential/socket';
    const fs = fakeFs({
      [R]: 'dir',
      '/run': 'dir',
      [sock]: 'socket',
      [`${R}/dev.sock`]: 'socket',
      '/tmp/x.sock': 'socket',
      '/home/dev/gone.sock': 'file',
    });
    const p = compilePlan(
      { workspaceRoots: [R] },
      {
        ...ctx(fs),
        listeningSockets: [sock, `${R}/dev.sock`, '/tmp/x.sock', '/run/screen/S-dev/1.pts', '/home/dev/gone.sock'],
      },
    ) as LinuxPlan;
    const a = p.bwrapArgs.join(' ');
    assert.ok(a.includes(`--ro-bind /dev/null ${sock}`), a);
    for (const not of [`${R}/dev.sock`, '/tmp/x.sock', '/run/screen', '/home/dev/gone.sock'])
      assert.ok(!a.includes(not), not);
    assert.ok(p.hiddenSockets.includes(sock));
    assert.ok(
      !p.guardedPaths.includes(sock),
      'hidden paths are guarded against re-creation only (MountGuard), not as protected',
    );
  });

  it("a socket alone in its folder has the folder hidden (a restarted daemon's new socket stays hidden); never the home folder", () => {
    const dir = '/home/dev/.cache/git/credential';
    const entries = {
      [R]: 'dir',
      '/run': 'dir',
      [dir]: 'dir',
      [`${dir}/socket`]: 'socket',
      '/home/dev/h.sock': 'socket',
    } as const;
    const f: FsView = {
      ...fakeFs(entries),
      list: (p) =>
        Object.keys(entries)
          .filter((k) => k.startsWith(p + '/') && !k.slice(p.length + 1).includes('/'))
          .map((k) => k.slice(p.length + 1)),
    };
    const p = compilePlan(
      { workspaceRoots: [R] },
      { ...ctx(f), listeningSockets: [`${dir}/socket`, '/home/dev/h.sock'] },
    ) as LinuxPlan;
    const a = p.bwrapArgs.join(' ');
    assert.ok(a.includes(`--tmpfs ${dir} --remount-ro ${dir}`), a);
    assert.ok(a.includes('--ro-bind /dev/null /home/dev/h.sock'), 'a socket directly in home is hidden alone');
  });

  it('the state folder is hidden, even before it exists; the private temp is keyed by network mode too', () => {
    const p = lin({}, repoFs);
    assert.equal(p.privateState, '/home/dev/.local/state/agent-sandbox');
    assert.ok(p.bwrapArgs.join(' ').includes('--tmpfs /home/dev/.local/state/agent-sandbox --remount-ro'));
    assert.notEqual(lin({ network: 'online' }, repoFs).tempDir, p.tempDir);
    assert.equal(lin({}, repoFs).tempDir, p.tempDir, 'stable');
  });

  it('the kernel keyring syscalls are denied in every confined plan', () => {
    for (const network of ['offline', 'online'] as const) {
      const d = lin({ network }, repoFs).seccomp.denySyscalls;
      for (const s of ['keyctl', 'add_key', 'request_key']) assert.ok(d.includes(s), s);
    }
  });

  it('resource limits: defaults, settings, 0 for none; full-access has none; the rendered plan says how they apply', () => {
    assert.deepEqual(lin({}, repoFs).limits, { pids: 4096, memoryBytes: 8192 * 1024 * 1024 });
    assert.deepEqual(lin({ maxProcesses: 100, maxMemoryMb: 0 }, repoFs).limits, { pids: 100, memoryBytes: 0 });
    assert.deepEqual(lin({ mode: 'full-access', allowFullAccess: true }, repoFs).limits, { pids: 0, memoryBytes: 0 });
    assert.throws(() => lin({ maxProcesses: -1 }, repoFs));
    const text = renderPlan(lin({ maxProcesses: 100 }, repoFs));
    assert.match(
      text,
      /Limits per sandbox: 100 processes and threads, 8192 MiB of memory \(a cgroup where one can be made;/,
    );
  });

  it('the rendered plan says exactly which credential paths get Landlock read rules (the folders leading to those outside the writable folders) and which are hidden by mounts only (inside one)', () => {
    const outside = lin({ denyRead: ['~/.ssh'] }, repoFs);
    assert.deepEqual(linuxReadRules(outside).inWritable, []);
    assert.ok(linuxReadRules(outside).chains.includes('/home/dev'), linuxReadRules(outside).chains.join(', '));
    const text = renderPlan(outside);
    assert.match(text, /Landlock read rules: entries created after start are unreadable directly in[^\n]*:\n {2}\/\n/);
    assert.match(text, /\n {2}\/home\/dev\n/);
    assert.doesNotMatch(text, /Hidden by mounts only/);
    // control: a credential path inside the workspace (writable) gets no read rule, and the preview says so
    const inside = lin({ denyRead: [`${R}/secrets/**`] }, repoFs);
    const rules = linuxReadRules(inside);
    assert.deepEqual(rules.inWritable, [`${R}/secrets/**`]);
    assert.ok(!rules.chains.includes(R) && !rules.chains.includes(`${R}/secrets`), rules.chains.join(', '));
    assert.match(
      renderPlan(inside),
      /Hidden by mounts only, inside writable folders[^\n]*\n {2}\/home\/dev\/repo\/secrets\/\*\*/,
    );
  });
});
