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
import { packageRoot, runnerRuntime, runnerScript } from './runtime';

export interface Launch {
  bwrap: string;
  args: string[];
  env: Record<string, string>;
}

/** bwrap + runner argv. `tty`: keep the caller's session so the terminal stays the controlling terminal. */
export function bwrapLaunch(bwrap: string, plan: LinuxPlan, opts: { cwd: string; tty: boolean }): Launch {
  const rt = runnerRuntime();
  const args = opts.tty ? plan.bwrapArgs.filter((a) => a !== '--new-session') : [...plan.bwrapArgs];
  const script = runnerScript();
  const runtime = [packageRoot() ?? path.dirname(script), path.dirname(rt.execPath)];
  // sealed: the bundles (and their code cache), koffi, and the runtime; not the whole package, which may be the
  // workspace itself (working on Agent Sandbox's own checkout)
  const sealed = [path.dirname(script), koffiDir(), path.dirname(rt.execPath)].filter((d): d is string => !!d);
  const mounts = sealRuntime(withRuntimeBinds(args, plan, runtime), plan, sealed);
  mounts.push('--chdir', opts.cwd, '--', rt.execPath, script);
  return { bwrap, args: mounts, env: rt.env };
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

export function sealRuntime(args: string[], plan: LinuxPlan, paths: string[]): string[] {
  const out = [...args];
  for (const p of new Set(paths)) {
    if (plan.writableRoots.some((r) => isWithin('linux', r, p))) out.push('--ro-bind', p, p);
  }
  return out;
}

export function runnerSandbox(plan: LinuxPlan): RunnerSandbox {
  return {
    confined: plan.confined !== false,
    writablePaths: plan.landlock.writablePaths,
    denyTcp: plan.network === 'offline',
    seccomp: plan.seccomp,
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

export function commandRequest(plan: LinuxPlan, argv: string[], cwd: string, env?: NodeJS.ProcessEnv): CommandRequest {
  return { id: nextId++, argv, cwd, env: commandEnv(plan, env) };
}
