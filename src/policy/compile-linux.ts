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
 *   5. credential paths (`denyRead`) and host socket locations (see `hostSocketPaths`) hidden behind empty
 *      read-only tmpfs or /dev/null, shallowest first; a path already hidden by an outer tmpfs is skipped (its
 *      mount point could not be made in the read-only tmpfs). A root that lies inside a hidden folder (a workspace under $XDG_RUNTIME_DIR) gets its
 *      mount point made in the tmpfs before it turns read-only, and is bound back (with its protected paths) after;
 *   6. namespaces: pid, ipc, uts, cgroup always; net when offline; die with the parent; a new session (the
 *      backend drops `--new-session` for interactive terminals, where seccomp still blocks TIOCSTI); no
 *      capabilities, even when run as root.
 */
import type { LinuxPlan, ProtectedPath } from './plan';
import { PLACEHOLDER_CONTENT } from './schema';
import { planBase } from './plan-base';
import type { CompileContext, ResolvedPolicy } from './resolved';
import { isWithin } from './paths';

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
  const offline = r.policy.network === 'offline';
  const hiddenSockets = hostSocketPaths(ctx, offline);
  const hidden = hiddenDirs(r, [...r.denyRead, ...hiddenSockets], kind);
  const roots = [...new Set([...r.writableRoots, ...r.workspaceRoots])];
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
  const covered = (root: string) => hidden.some((h) => h.kind === 'dir' && h.path !== root && isWithin('linux', h.path, root));
  rootMounts(roots.filter((root) => !covered(root)));
  for (const h of hidden) {
    if (h.kind !== 'dir') {
      args.push('--ro-bind', '/dev/null', h.path);
      continue;
    }
    const inside = roots.filter((root) => root !== h.path && isWithin('linux', h.path, root) &&
      outermostHidden(hidden, root) === h.path);
    args.push('--tmpfs', h.path);
    for (const root of inside) args.push('--dir', root);
    args.push('--remount-ro', h.path);
    rootMounts(inside);
  }

  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try');
  if (offline) args.push('--unshare-net');
  // Run as root, bwrap keeps every capability (CAP_SYS_ADMIN could unmount the read-only binds); drop them all.
  args.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL');

  return {
    ...base(r),
    warnings: [],
    bwrapArgs: args,
    placeholders,
    landlock: { writablePaths: [...r.writableRoots, LINUX_SANDBOX_TMP, '/dev'], minAbi: 1 },
    seccomp: {
      // io_uring can open sockets without calling socket(), so it goes too when offline.
      denySyscalls: ['ptrace', 'process_vm_readv', 'process_vm_writev',
        ...(offline ? ['io_uring_setup', 'io_uring_enter', 'io_uring_register'] : [])],
      denyIoctls: ['TIOCSTI', 'TIOCLINUX'],
      allowSocketFamilies: offline ? ['AF_UNIX'] : null,
    },
    hiddenSockets,
    confined: true,
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
      const content = file ? pp.content ?? PLACEHOLDER_CONTENT[pp.glob] : undefined;
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
    landlock: { writablePaths: ['/'], minAbi: 1 },
    seccomp: { denySyscalls: [], denyIoctls: [], allowSocketFamilies: null },
    hiddenSockets: [],
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
  for (const p of [...new Set(paths)]) {
    const k = kind(p);
    if (k !== 'missing') all.push({ path: p, kind: k === 'dir' ? 'dir' : 'file' });
  }
  all.sort((a, b) => depth(a.path) - depth(b.path));
  const roots = [...r.writableRoots, ...r.workspaceRoots];
  return all.filter((x) => !all.some((h) => h.kind === 'dir' && h.path !== x.path && isWithin('linux', h.path, x.path) &&
    !roots.some((root) => isWithin('linux', h.path, root) && root !== h.path && isWithin('linux', root, x.path))));
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
 * daemon behind one acts with its own rights and its own network. These are hidden, shallowest first:
 * - always: the user's runtime dir (session bus, keyrings, agents, rootless podman), the SSH agent, the D-Bus
 *   system bus (PackageKit, NetworkManager, systemd-resolved and others act on a caller's request there), and the
 *   daemons whose socket is as good as root or a way out for members of their group: Docker, containerd, rootful
 *   podman, libvirt, LXD, snapd; and CUPS, which sends jobs to network printers;
 * - offline: the host's name-resolution daemons, which would look up any name the command asks for, on the
 *   network the sandbox must not reach (a DNS query is enough to send data out).
 * Each path is hidden only when it exists, under its real name (`/var/run` is usually a link to `/run`).
 */
const HOST_SOCKETS = [
  '/run/user', '/run/dbus', '/var/run/dbus',
  '/var/run/docker.sock', '/run/docker.sock', '/run/docker', '/run/containerd', '/run/podman',
  '/run/libvirt', '/var/run/libvirt', '/var/snap/lxd/common/lxd/unix.socket', '/var/lib/lxd/unix.socket',
  '/run/snapd.socket', '/run/snapd-snap.socket', '/run/cups', '/var/run/cups',
];
const RESOLVER_SOCKETS = [
  '/run/systemd/resolve/io.systemd.Resolve',
  '/run/systemd/resolve/io.systemd.Resolve.Monitor',
  '/run/nscd',
  '/var/run/nscd',
  '/run/avahi-daemon/socket',
  '/var/run/avahi-daemon/socket',
];

function hostSocketPaths(ctx: CompileContext, offline: boolean): string[] {
  const wanted = [...HOST_SOCKETS, ...(offline ? RESOLVER_SOCKETS : [])];
  const xdg = ctx.env.XDG_RUNTIME_DIR;
  if (xdg && xdg.startsWith('/')) wanted.push(xdg);
  const ssh = ctx.env.SSH_AUTH_SOCK;
  if (ssh && ssh.startsWith('/')) wanted.push(ssh);
  const out = new Set<string>();
  for (const p of wanted) {
    if (ctx.fs && ctx.fs.kind(p) === 'missing') continue;
    out.add(ctx.fs?.realpath(p) ?? p);
  }
  return [...out];
}
