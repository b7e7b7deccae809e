/**
 * ResolvedPolicy → LinuxPlan: bubblewrap arguments, Landlock rules and seccomp rules. Pure; disk facts come only
 * from `ctx.fs` (absent in previews, where the plan assumes protected paths exist as folders).
 *
 * bwrap applies mount operations in argument order, so the order here is the security argument:
 *   1. the whole filesystem read-only, fresh /dev and /proc, the private temp as /tmp;
 *   2. each writable root bound read-write (a read-only workspace under the host's /tmp is bound back read-only,
 *      since the private temp hides it);
 *   3. every folder between a root and a protected path bound onto itself ("pinned"): a mount point cannot be
 *      renamed or removed, so `mv .git .git2 && mkdir -p .git/hooks` cannot swap a protected path away;
 *   4. each protected path bound read-only on top;
 *   5. credential paths (`denyRead`), the state folder (other plans' temps, the placeholder ledger) and host socket
 *      locations (see `hostSocketPaths`: /run and /var/run whole, and every listening socket outside the roots)
 *      hidden behind empty read-only tmpfs or /dev/null, shallowest first; what commands need from /run is bound
 *      back read-only into the tmpfs before it turns read-only (`runBindBacks`, each with its reason); a path already hidden by an outer tmpfs is skipped (its
 *      mount point could not be made in the read-only tmpfs). A root that lies inside a hidden folder (a workspace under $XDG_RUNTIME_DIR) gets its
 *      mount point made in the tmpfs before it turns read-only, and is bound back (with its protected paths) after;
 *   6. namespaces: pid, ipc, uts, cgroup always; net when offline; die with the parent; a new session (the
 *      backend drops `--new-session` for interactive terminals, where seccomp still blocks TIOCSTI); no
 *      capabilities, even when run as root.
 */
import type { LinuxPlan, ProtectedPath } from './plan';
import { PLACEHOLDER_CONTENT } from './schema';
import { allowlistPlan, planBase } from './plan-base';
import { endpointUrls, LINUX_RELAY } from './proxy-env';
import type { CompileContext, ResolvedPolicy } from './resolved';
import { isWithin } from './paths';

/** The Landlock ABI that scopes abstract Unix sockets and signals (Linux 6.12): everything we use. */
export const FULL_LANDLOCK_ABI = 6;

/** Where the private temp appears inside the sandbox. */
export const LINUX_SANDBOX_TMP = '/tmp';

type Kind = 'dir' | 'file' | 'socket' | 'missing';

export function compileLinux(r: ResolvedPolicy, ctx: CompileContext): LinuxPlan {
  if (r.policy.mode === 'full-access') return fullAccessPlan(r);
  // Previews (no fs) assume every path exists as a folder.
  const kind = (p: string): Kind => (ctx.fs ? ctx.fs.kind(p) : 'dir');
  const args: string[] = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc'];
  args.push('--bind', r.tempDir, LINUX_SANDBOX_TMP);
  const real = (p: string) => ctx.fs?.realpath(p) ?? p;
  const { pins, readOnly, placeholders } = protectedMounts(r.protectedPaths, kind, real);
  // allowlist keeps the private network namespace too: its only way out is the proxy relay.
  const offline = r.policy.network !== 'online';
  const allowlist = r.policy.network === 'allowlist';
  const roots = [...new Set([...r.writableRoots, ...r.workspaceRoots])];
  const hiddenSockets = hostSocketPaths(ctx, roots);
  const privateState = real(ctx.stateDir);
  // The state folder is hidden even before its first use (prepareHost creates it before bwrap starts).
  const stateKind = (p: string): Kind => (p === privateState ? 'dir' : kind(p));
  const hidden = hiddenDirs(r, [...r.denyRead, privateState, ...hiddenSockets], stateKind);
  const bindBacks = runBindBacks(ctx);
  const rootMounts = (subset: string[]) => {
    for (const root of subset) {
      // A read-only workspace is bound back read-only when something earlier (the private /tmp, a hidden folder)
      // covers it.
      if (r.writableRoots.includes(root)) args.push('--bind', root, root);
      else if (covered(root) || isWithin('linux', LINUX_SANDBOX_TMP, root)) args.push('--ro-bind', root, root);
    }
    const mine = (p: string) => subset.some((root) => isWithin('linux', root, p));
    for (const p of pins.filter(mine)) args.push('--bind', p, p);
    for (const p of readOnly.filter(mine)) args.push('--ro-bind', p, p);
  };
  const covered = (root: string) =>
    hidden.some((h) => h.kind === 'dir' && h.path !== root && isWithin('linux', h.path, root));
  rootMounts(roots.filter((root) => !covered(root)));
  for (const h of hidden) {
    if (h.kind !== 'dir') {
      args.push('--ro-bind', '/dev/null', h.path);
      continue;
    }
    const inside = roots.filter(
      (root) => root !== h.path && isWithin('linux', h.path, root) && outermostHidden(hidden, root) === h.path,
    );
    args.push('--tmpfs', h.path);
    for (const root of inside) args.push('--dir', root);
    for (const b of bindBacks.filter((x) => outermostHidden(hidden, x.path) === h.path))
      args.push('--ro-bind', b.path, b.path);
    args.push('--remount-ro', h.path);
    rootMounts(inside);
  }

  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try');
  // Online gets its own namespace too (user-space networking without the host's loopback), unless the user allowed it.
  const userNet = r.policy.network === 'online' && !r.policy.allowHostLoopback;
  if (offline || userNet) args.push('--unshare-net');
  // Run as root, bwrap keeps every capability (CAP_SYS_ADMIN could unmount the read-only binds); drop them all.
  args.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL');

  return {
    ...base(r),
    warnings: [],
    bwrapArgs: args,
    placeholders,
    landlock: {
      writablePaths: [...r.writableRoots, LINUX_SANDBOX_TMP, '/dev'],
      minAbi: 1,
      requiredAbi: r.policy.requireFullLandlock ? FULL_LANDLOCK_ABI : 0,
      ...(allowlist ? { connectTcpPorts: [LINUX_RELAY.httpPort, LINUX_RELAY.socksPort] } : {}),
    },
    seccomp: {
      // io_uring can open sockets without calling socket(), so it goes too when offline.
      // The kernel keyring outlives the sandbox and holds the user's secrets (Kerberos caches, keys): no access.
      denySyscalls: [
        'ptrace',
        'process_vm_readv',
        'process_vm_writev',
        'keyctl',
        'add_key',
        'request_key',
        ...(offline ? ['io_uring_setup', 'io_uring_enter', 'io_uring_register'] : []),
      ],
      denyIoctls: ['TIOCSTI', 'TIOCLINUX'],
      allowSocketFamilies: offline ? ['AF_UNIX'] : null,
      ...(allowlist ? { tcpOnlySocketFamilies: ['AF_INET', 'AF_INET6'] } : {}),
    },
    hiddenSockets,
    runBindBacks: bindBacks,
    privateState,
    ...(userNet ? { userNet: 'slirp4netns' as const } : {}),
    guardedPaths: [...new Set([...pins, ...readOnly])],
    confined: true,
    ...(allowlist ? allowlistParts(r) : {}),
  };
}

/** Where the proxy gateway's socket folder is bound inside the sandbox (a tmpfs of bwrap's own). */
export const LINUX_PROXY_DIR = '/dev/agent-sandbox-proxy';

function allowlistParts(r: ResolvedPolicy): Pick<LinuxPlan, 'allowlist' | 'proxyRelay'> {
  return {
    allowlist: allowlistPlan(
      r,
      endpointUrls(LINUX_RELAY),
      'Linux: private network namespace with only loopback; a relay inside ' +
        `it forwards ${LINUX_RELAY.host}:${LINUX_RELAY.httpPort} (HTTP) and :${LINUX_RELAY.socksPort} (SOCKS5) to the ` +
        "proxy's Unix sockets; seccomp allows only Unix and TCP sockets, Landlock (ABI 4+) TCP connect only to those " +
        'two ports and no bind; DNS and host sockets stay blocked as offline.',
    ),
    proxyRelay: {
      httpSocket: `${LINUX_PROXY_DIR}/http.sock`,
      socksSocket: `${LINUX_PROXY_DIR}/socks.sock`,
      host: LINUX_RELAY.host,
      httpPort: LINUX_RELAY.httpPort,
      socksPort: LINUX_RELAY.socksPort,
    },
  };
}

function base(r: ResolvedPolicy) {
  return { ...planBase(r), platform: 'linux' as const };
}

/**
 * Mounts for protected paths: folders to pin, paths to make read-only, and placeholders for missing ones (the
 * outermost missing path of each, so a placeholder's parent always exists).
 * When an ancestor inside the root is a file (a worktree's `.git` file) or a symlink (which a pin would follow out
 * of the root), that ancestor itself is made read-only instead.
 */
function protectedMounts(prot: ProtectedPath[], kind: (p: string) => Kind, real: (p: string) => string) {
  const pins: string[] = [];
  const readOnly: string[] = [];
  const placeholders: LinuxPlan['placeholders'] = [];
  const add = (list: string[], p: string) => {
    if (!list.includes(p)) list.push(p);
  };
  for (const pp of prot) {
    const chain = ancestorsBelow(pp.root, pp.path);
    const odd = chain.find((a) => kind(a) === 'file' || (kind(a) !== 'missing' && real(a) !== a));
    if (odd) {
      add(readOnly, odd);
      continue;
    }
    // The outermost missing folder is itself the read-only placeholder: nothing below it can be created, and no
    // host folders are made just to hold deeper placeholders (a missing .git becomes one empty .git/, which git
    // ignores as "not a repository", instead of a half-made repository).
    const missing = [...chain, pp.path].find((a) => kind(a) === 'missing');
    for (const a of chain) {
      if (a === missing) break;
      add(pins, a);
    }
    const target = missing ?? pp.path;
    if (missing && !placeholders.some((x) => x.path === missing)) {
      const file = missing === pp.path && pp.kind !== 'dir';
      const content = file ? (pp.content ?? PLACEHOLDER_CONTENT[pp.glob]) : undefined;
      placeholders.push({ path: missing, kind: file ? 'file' : 'dir', ...(content !== undefined ? { content } : {}) });
    }
    add(readOnly, target);
  }
  return { pins: pins.filter((p) => !readOnly.includes(p)), readOnly, placeholders };
}

/** Folders strictly between `root` and `p`, outermost first. */
function ancestorsBelow(root: string, p: string): string[] {
  const rel = p.slice(root.length).split('/').filter(Boolean);
  const out: string[] = [];
  for (let i = 1; i < rel.length; i++) out.push(root.replace(/\/$/, '') + '/' + rel.slice(0, i).join('/'));
  return out;
}

/** `full-access` (an explicit opt-in): no confinement, only the process-lifetime namespace. */
function fullAccessPlan(r: ResolvedPolicy): LinuxPlan {
  return {
    ...base(r),
    warnings: ['full-access: commands run without any sandbox (only the process tree is contained).'],
    bwrapArgs: ['--dev-bind', '/', '/', '--proc', '/proc', '--unshare-pid', '--die-with-parent', '--new-session'],
    placeholders: [],
    landlock: { writablePaths: ['/'], minAbi: 1, requiredAbi: 0 },
    seccomp: { denySyscalls: [], denyIoctls: [], allowSocketFamilies: null },
    hiddenSockets: [],
    runBindBacks: [],
    guardedPaths: [],
    confined: false,
  };
}

interface Hidden {
  path: string;
  kind: 'dir' | 'file';
}

/**
 * Paths to hide, shallowest first, minus any that an outer hidden folder already covers (unless a root bound back
 * inside that folder contains it, where it must be hidden again).
 */
function hiddenDirs(r: ResolvedPolicy, paths: string[], kind: (p: string) => Kind): Hidden[] {
  const all: Hidden[] = [];
  const roots = [...r.writableRoots, ...r.workspaceRoots];
  for (const p of [...new Set(paths)]) {
    const k = kind(p);
    // The host's /tmp is already replaced by the private temp (a mount point there would only litter it).
    const underTmp = isWithin('linux', LINUX_SANDBOX_TMP, p) && !roots.some((root) => isWithin('linux', root, p));
    if (k !== 'missing' && !underTmp) all.push({ path: p, kind: k === 'dir' ? 'dir' : 'file' });
  }
  all.sort((a, b) => depth(a.path) - depth(b.path));
  return all.filter(
    (x) =>
      !all.some(
        (h) =>
          h.kind === 'dir' &&
          h.path !== x.path &&
          isWithin('linux', h.path, x.path) &&
          !roots.some((root) => isWithin('linux', h.path, root) && root !== h.path && isWithin('linux', root, x.path)),
      ),
  );
}

/** The outermost hidden folder containing `p` (strictly), if any. */
function outermostHidden(hidden: Hidden[], p: string): string | undefined {
  return hidden.find((h) => h.kind === 'dir' && h.path !== p && isWithin('linux', h.path, p))?.path;
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

/**
 * Host Unix sockets reachable by path are a way around both the filesystem rules and the network namespace: the
 * daemon behind one acts with its own rights and its own network (GNU screen, systemd, tailscaled, container
 * runtimes, credential caches, agents). Hidden by default rather than by list:
 * - /run and /var/run whole (system daemons, the user's runtime dir, the name-resolution daemons), behind an empty
 *   tmpfs with only `runBindBacks` bound back;
 * - every socket listening (or bound, for datagram sockets) on a path outside the roots at plan time, from
 *   /proc/net/unix (`ctx.listeningSockets`), the home folder included. A socket alone in its folder (git's
 *   `~/.cache/git/credential/socket`) has that folder hidden instead, so a restarted daemon's new socket stays
 *   hidden too; otherwise the socket itself is (and MountGuard stops a sandbox whose hidden socket is re-created);
 * - by name, for daemons whose socket may not be listed yet: $XDG_RUNTIME_DIR, $SSH_AUTH_SOCK, LXD.
 * Each path is hidden only when it exists, under its real name (`/var/run` is usually a link to `/run`).
 */
const RUN_DIRS = ['/run', '/var/run'];
const NAMED_SOCKETS = ['/var/snap/lxd/common/lxd/unix.socket', '/var/lib/lxd/unix.socket'];

function hostSocketPaths(ctx: CompileContext, roots: string[]): string[] {
  const wanted = [...RUN_DIRS, ...NAMED_SOCKETS];
  const xdg = ctx.env.XDG_RUNTIME_DIR;
  if (xdg && xdg.startsWith('/')) wanted.push(xdg);
  const ssh = ctx.env.SSH_AUTH_SOCK;
  if (ssh && ssh.startsWith('/')) wanted.push(ssh);
  for (const s of ctx.listeningSockets ?? []) {
    if (!roots.some((root) => isWithin('linux', root, s)) && ctx.fs?.kind(s) === 'socket')
      wanted.push(socketDir(ctx, s, roots) ?? s);
  }
  const out = new Set<string>();
  for (const p of wanted) {
    if (ctx.fs && ctx.fs.kind(p) === 'missing') continue;
    out.add(ctx.fs?.realpath(p) ?? p);
  }
  return [...out];
}

/** The folder of socket `s` when it holds nothing but sockets and is neither the home folder nor above a root. */
function socketDir(ctx: CompileContext, s: string, roots: string[]): string | undefined {
  const dir = s.slice(0, s.lastIndexOf('/'));
  if (!ctx.fs?.list || depth(dir) < 2 || dir === ctx.home || isWithin('linux', dir, ctx.home)) return undefined;
  if (roots.some((root) => isWithin('linux', dir, root) || isWithin('linux', root, dir))) return undefined;
  const names = ctx.fs.list(dir) ?? [];
  return names.length && names.every((n) => ctx.fs!.kind(`${dir}/${n}`) === 'socket') ? dir : undefined;
}

/**
 * What commands need from the hidden /run, bound back read-only: the file /etc/resolv.conf points to (systemd-
 * resolved, NetworkManager and resolvconf keep it there), without which no name resolves when online. Files only:
 * the resolver daemons' sockets stay hidden.
 */
function runBindBacks(ctx: CompileContext): { path: string; reason: string }[] {
  const target = ctx.fs?.realpath('/etc/resolv.conf');
  if (!target || ctx.fs?.kind(target) !== 'file') return [];
  const runs = RUN_DIRS.map((d) => ctx.fs?.realpath(d)).filter((d): d is string => !!d);
  if (!runs.some((d) => isWithin('linux', d, target))) return [];
  return [{ path: target, reason: '/etc/resolv.conf points here (name resolution)' }];
}
