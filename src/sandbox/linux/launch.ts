/**
 * Turns a plan and a spawn spec into what is handed to bubblewrap and the runner: the bwrap argv, the runner's
 * sandbox request, and the command's environment (caller's env, scrubbed, then the plan's variables).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LinuxPlan } from '../../policy/plan';
import type { CommandRequest, RunnerSandbox } from '../../protocol/linux';
import { LINUX_SANDBOX_TMP } from '../../policy/compile-linux';
import { isWithin } from '../../policy/paths';
import { nodeProxyPreload, packageRoot, runnerRuntime, runnerScript } from './runtime';
import { withNodePreload } from '../../policy/proxy-env';
import { INFO_FD } from './usernet';
import { SandboxError, SandboxErrorCode } from '../../errors';

export interface Launch {
  bwrap: string;
  args: string[];
  env: Record<string, string>;
}

/** bwrap + runner argv. `tty`: keep the caller's session so the terminal stays the controlling terminal. */
export function bwrapLaunch(
  bwrap: string,
  plan: LinuxPlan,
  opts: { cwd: string; tty: boolean; proxyDir?: string; hide?: string[] },
): Launch {
  const rt = runnerRuntime();
  const args = opts.tty ? plan.bwrapArgs.filter((a) => a !== '--new-session') : [...plan.bwrapArgs];
  const script = runnerScript();
  const runtime = [packageRoot() ?? path.dirname(script), path.dirname(rt.execPath)];
  // sealed: the bundles (and their code cache), koffi, and the runtime; not the whole package, which may be the
  // workspace itself (working on Agent Sandbox's own checkout)
  const koffi = koffiDir();
  const sealed = [path.dirname(script), koffi, koffi && koffiPrebuildDir(koffi), path.dirname(rt.execPath)].filter(
    (d): d is string => !!d,
  );
  const mounts = sealRuntime(withRuntimeBinds(withoutVanishedSockets(args, plan), plan, runtime), plan, sealed);
  mounts.push(...lateDenyRead(plan), ...(opts.hide ?? []));
  if (plan.proxyRelay) mounts.push(...proxyBind(plan, opts.proxyDir));
  if (plan.userNet) mounts.push('--info-fd', String(INFO_FD));
  mounts.push('--chdir', opts.cwd, '--', rt.execPath, script);
  return { bwrap, args: mounts, env: rt.env };
}

/**
 * Drops the hiding of a socket, or of a socket-only folder, that was removed since the plan was made (bwrap could
 * not make its mount point in the read-only root and would fail before anything ran). Nothing is reachable at a
 * missing path; if one comes back while the sandbox runs, MountGuard stops it.
 */
export function withoutVanishedSockets(args: string[], plan: LinuxPlan): string[] {
  const gone = new Set(plan.hiddenSockets.filter((p) => !fs.lstatSync(p, { throwIfNoEntry: false })));
  if (!gone.size) return [...args];
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--ro-bind' && args[i + 1] === '/dev/null' && gone.has(args[i + 2])) {
      i += 2;
      continue;
    }
    if ((args[i] === '--tmpfs' || args[i] === '--remount-ro') && gone.has(args[i + 1])) {
      i += 1;
      continue;
    }
    out.push(args[i]);
  }
  return out;
}

/**
 * Credential paths (`denyRead`) that were missing when the plan was made but exist now (`aws configure` run since,
 * on the host): hidden as the plan hides the others, after its own mounts. A broker restarted for the same plan
 * (its guard stopped the old one when the folder appeared) or a plan kept between commands would show them
 * otherwise. Paths the plan already hides (itself or a folder around it) are left alone.
 */
export function lateDenyRead(plan: LinuxPlan): string[] {
  if (plan.confined === false) return [];
  const roots = [...plan.writableRoots, ...plan.workspaceRoots];
  const hidden: string[] = [];
  const a = plan.bwrapArgs;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--tmpfs') hidden.push(a[i + 1]);
    else if (a[i] === '--ro-bind' && a[i + 1] === '/dev/null') hidden.push(a[i + 2]);
  }
  // A folder hides p unless a root bound back inside it holds p.
  const covers = (h: string, p: string) =>
    isWithin('linux', h, p) && !roots.some((r) => r !== h && isWithin('linux', h, r) && isWithin('linux', r, p));
  const out: string[] = [];
  for (const p of plan.denyRead) {
    if (hidden.some((h) => covers(h, p))) continue;
    if (isWithin('linux', LINUX_SANDBOX_TMP, p) && !roots.some((r) => isWithin('linux', r, p))) continue;
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) out.push('--tmpfs', p, '--remount-ro', p);
    else if (st) out.push('--ro-bind', '/dev/null', p);
  }
  return out;
}

/**
 * Inserts the runtime binds right after the private /tmp is mounted, so the roots, protected paths and hidden
 * credentials mounted later still apply inside a runtime folder that contains them (a checkout under /tmp holding
 * its own test workspace). A plan without a private /tmp (full-access) hides nothing and gets none.
 */
export function withRuntimeBinds(args: string[], plan: LinuxPlan, paths: string[]): string[] {
  const at = args.findIndex((a, i) => a === '--bind' && args[i + 2] === LINUX_SANDBOX_TMP);
  if (at === -1) return [...args];
  return [...args.slice(0, at + 3), ...runtimeBinds(plan, paths), ...args.slice(at + 3)];
}

/**
 * Read-only binds for host folders the runner needs (its package with koffi, the Node/Electron runtime) that the
 * sandbox's private /tmp would otherwise hide, e.g. when Agent Sandbox itself lives under the host's /tmp.
 */
export function runtimeBinds(plan: LinuxPlan, paths: string[]): string[] {
  const out: string[] = [];
  for (const p of new Set(paths)) {
    const hidden = isWithin('linux', LINUX_SANDBOX_TMP, p) && !plan.writableRoots.some((r) => isWithin('linux', r, p));
    if (hidden) out.push('--ro-bind', p, p);
  }
  return out;
}

/**
 * Agent Sandbox's own code and the runtime that runs it, bound read-only on top when a writable root contains them
 * (the CLI installed in the project's node_modules, or the checkout itself as the workspace): otherwise a sandboxed
 * command could change the bundle, its code cache or the runner that the next run executes on the host.
 */
/**
 * The koffi package the runner loads, wherever npm put it: the first `node_modules/koffi` on this module's lookup
 * path, as `require` would find it (a few stats, where `require.resolve` costs a cold run several milliseconds of
 * package.json parsing), else whatever `require.resolve` says.
 */
function koffiDir(): string | undefined {
  for (const dir of module.paths) {
    const candidate = path.join(dir, 'koffi');
    if (fs.existsSync(path.join(candidate, 'index.cjs'))) return fs.realpathSync(candidate);
  }
  try {
    return path.dirname(require.resolve('koffi')); // index.cjs sits at the package's top
  } catch {
    return undefined;
  }
}

/**
 * koffi's native prebuild, a package of its own (`@koromix/koffi-<platform>-<arch>`, next to koffi): the runner and
 * the host's next `verify` load its koffi.node, so it is sealed like koffi itself.
 */
function koffiPrebuildDir(koffi: string): string | undefined {
  const dir = path.join(path.dirname(koffi), '@koromix', `koffi-${process.platform}-${process.arch}`);
  try {
    return fs.realpathSync.native(dir);
  } catch {
    return undefined;
  }
}

export function sealRuntime(args: string[], plan: LinuxPlan, paths: string[]): string[] {
  const out = [...args];
  for (const p of new Set(paths)) {
    if (plan.writableRoots.some((r) => isWithin('linux', r, p))) out.push('--ro-bind', p, p);
  }
  return out;
}

/**
 * The proxy's socket folder on the host, hidden from every sandbox behind an empty read-only tmpfs (an allowlist
 * sandbox gets only its own gateway, bound elsewhere): no sandbox can even try another's gateway. Nothing to do when
 * the folder does not exist yet, or is already out of sight (under the private /tmp, a hidden folder, or the hidden
 * state folder). Nothing either when there is no such folder: gateways then live right in /tmp (see proxySocketDir).
 */
export function hideProxySockets(plan: LinuxPlan, base: string | undefined): string[] {
  if (plan.confined === false || !base || !fs.existsSync(base)) return [];
  const hidden = [
    LINUX_SANDBOX_TMP,
    ...plan.hiddenSockets,
    ...plan.denyRead,
    ...(plan.privateState ? [plan.privateState] : []),
  ];
  const covered = hidden.some((h) => isWithin('linux', h, base));
  return covered ? [] : ['--tmpfs', base, '--remount-ro', base];
}

/** Allowlist: the proxy gateway's private socket folder, bound read-only where the relay expects it. */
export function proxyBind(plan: LinuxPlan, proxyDir: string | undefined): string[] {
  if (!proxyDir) {
    throw new SandboxError(
      SandboxErrorCode.Internal,
      'An allowlist sandbox was started without its proxy; nothing was run.',
      'Report this bug.',
    );
  }
  return ['--ro-bind', proxyDir, path.posix.dirname(plan.proxyRelay!.httpSocket)];
}

export function runnerSandbox(plan: LinuxPlan): RunnerSandbox {
  const r = plan.proxyRelay;
  return {
    confined: plan.confined !== false,
    writablePaths: plan.landlock.writablePaths,
    denyRead: plan.denyRead,
    denyTcp: plan.network === 'offline',
    seccomp: plan.seccomp,
    requiredAbi: plan.landlock.requiredAbi,
    ...(plan.landlock.connectTcpPorts ? { connectTcpPorts: plan.landlock.connectTcpPorts } : {}),
    ...(r
      ? {
          relay: {
            host: r.host,
            listen: [
              { port: r.httpPort, socket: r.httpSocket },
              { port: r.socksPort, socket: r.socksSocket },
            ],
          },
        }
      : {}),
  };
}

export function commandEnv(plan: LinuxPlan, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  // Under VS Code's runtime this only makes Electron act as Node for us; the command must not inherit it.
  if (process.versions.electron) delete env.ELECTRON_RUN_AS_NODE;
  for (const k of plan.env.remove) delete env[k];
  return { ...env, ...plan.env.set };
}

let nextId = 1;

/**
 * `env`: the caller's environment before the plan's scrubbing (default: this process's; a warm broker passes its
 * client's). `extraEnv`: this command's own variables (the allowlist proxy URLs with its credential). With them,
 * Node programs also get the proxy preload in NODE_OPTIONS, after the user's own options.
 */
export function commandRequest(
  plan: LinuxPlan,
  argv: string[],
  cwd: string,
  env?: NodeJS.ProcessEnv,
  extraEnv: Record<string, string> = {},
  preload = extraEnv.NODE_USE_ENV_PROXY ? nodeProxyPreload() : undefined,
): CommandRequest {
  const vars = { ...commandEnv(plan, env), ...extraEnv };
  if (preload) vars.NODE_OPTIONS = withNodePreload(vars.NODE_OPTIONS, preload);
  return { id: nextId++, argv, cwd, env: vars };
}
