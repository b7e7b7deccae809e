/**
 * ResolvedPolicy → LinuxPlan: bubblewrap arguments, Landlock rules and seccomp rules. Pure; disk facts come only
 * from `ctx.fs` (absent in previews, where the plan assumes protected paths exist).
 */
import type { LinuxPlan } from './plan';
import type { CompileContext, ResolvedPolicy } from './compile';

/** Where the private temp appears inside the sandbox. */
export const LINUX_SANDBOX_TMP = '/tmp';

export function compileLinux(r: ResolvedPolicy, ctx: CompileContext): LinuxPlan {
  const kind = (p: string) => ctx.fs?.kind(p) ?? 'missing';
  const args: string[] = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc'];
  args.push('--bind', r.tempDir, LINUX_SANDBOX_TMP);
  for (const root of r.writableRoots) args.push('--bind', root, root);

  const placeholders: LinuxPlan['placeholders'] = [];
  for (const pp of r.protectedPaths) {
    const k = ctx.fs ? kind(pp.path) : 'dir';
    if (k === 'missing') placeholders.push({ path: pp.path, kind: pp.kind === 'dir' ? 'dir' : 'file' });
    args.push('--ro-bind', pp.path, pp.path);
  }

  const hiddenSockets = hostSocketPaths(ctx);
  for (const p of [...r.denyRead, ...hiddenSockets]) {
    const k = ctx.fs ? kind(p) : 'dir';
    if (k === 'dir') args.push('--tmpfs', p, '--remount-ro', p);
    else if (k === 'file' || k === 'socket') args.push('--ro-bind', '/dev/null', p);
  }

  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try');
  if (r.policy.network === 'offline') args.push('--unshare-net');
  args.push('--die-with-parent', '--new-session');

  return {
    version: 1,
    platform: 'linux',
    mode: r.policy.mode,
    network: r.policy.network,
    writableRoots: r.writableRoots,
    workspaceRoots: r.workspaceRoots,
    protectedPaths: r.protectedPaths,
    denyRead: r.denyRead,
    env: r.env,
    tempDir: r.tempDir,
    warnings: [],
    bwrapArgs: args,
    placeholders,
    landlock: { writablePaths: [...r.writableRoots, LINUX_SANDBOX_TMP, '/dev'], minAbi: 1 },
    seccomp: {
      denySyscalls: ['ptrace', 'process_vm_readv', 'process_vm_writev'],
      denyIoctls: ['TIOCSTI', 'TIOCLINUX'],
      allowSocketFamilies: r.policy.network === 'offline' ? ['AF_UNIX'] : null,
    },
    hiddenSockets,
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
