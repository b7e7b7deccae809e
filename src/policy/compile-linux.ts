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
 *   5. credential paths (`denyRead`) and host socket locations hidden behind empty read-only tmpfs or /dev/null;
 *   6. namespaces: pid, ipc, uts, cgroup always; net when offline; die with the parent; a new session (the
 *      backend drops `--new-session` for interactive terminals, where seccomp still blocks TIOCSTI).
 */
import type { LinuxPlan, ProtectedPath } from './plan';
import type { CompileContext, ResolvedPolicy } from './compile';
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
  for (const root of r.writableRoots) args.push('--bind', root, root);
  // A read-only workspace under the host's /tmp would be hidden by the private /tmp: bind it back, read-only.
  for (const ws of r.workspaceRoots) {
    if (!r.writableRoots.includes(ws) && isWithin('linux', LINUX_SANDBOX_TMP, ws)) args.push('--ro-bind', ws, ws);
  }

  const real = (p: string) => ctx.fs?.realpath(p) ?? p;
  const { pins, readOnly, placeholders } = protectedMounts(r.protectedPaths, kind, real);
  for (const p of pins) args.push('--bind', p, p);
  for (const p of readOnly) args.push('--ro-bind', p, p);

  const hiddenSockets = hostSocketPaths(ctx);
  for (const p of [...r.denyRead, ...hiddenSockets]) {
    const k = kind(p);
    if (k === 'dir') args.push('--tmpfs', p, '--remount-ro', p);
    else if (k === 'file' || k === 'socket') args.push('--ro-bind', '/dev/null', p);
  }

  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try');
  const offline = r.policy.network === 'offline';
  if (offline) args.push('--unshare-net');
  args.push('--die-with-parent', '--new-session');

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
  return {
    version: 1 as const,
    platform: 'linux' as const,
    mode: r.policy.mode,
    network: r.policy.network,
    writableRoots: r.writableRoots,
    workspaceRoots: r.workspaceRoots,
    protectedPaths: r.protectedPaths,
    denyRead: r.denyRead,
    env: r.env,
    tempDir: r.tempDir,
  };
}

/**
 * Mounts for protected paths: folders to pin, paths to make read-only, and placeholders for missing ones.
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
    for (const a of chain) add(pins, a);
    if (kind(pp.path) === 'missing') placeholders.push({ path: pp.path, kind: pp.kind === 'dir' ? 'dir' : 'file' });
    add(readOnly, pp.path);
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

/** Host Unix-socket locations that must not be reachable from inside. */
function hostSocketPaths(ctx: CompileContext): string[] {
  const out = new Set<string>(['/run/user', '/var/run/docker.sock', '/run/docker.sock']);
  const xdg = ctx.env.XDG_RUNTIME_DIR;
  if (xdg && xdg.startsWith('/')) out.add(xdg);
  const ssh = ctx.env.SSH_AUTH_SOCK;
  if (ssh && ssh.startsWith('/')) out.add(ssh);
  return [...out].filter((p) => !ctx.fs || ctx.fs.kind(p) !== 'missing');
}
