/**
 * What a plan hides inside the sandbox, checked before bubblewrap starts: the working folder, the runner script
 * and the runtime that starts it must be visible there, or bwrap would fail with a bare "exit 1". A path is hidden
 * when the deepest plan boundary above it is a hidden location (credential path or host socket folder) rather
 * than a root (roots inside a hidden folder are bound back). Never relaxes a hidden path; it only explains.
 */
import * as fs from 'node:fs';
import { isWithin } from '../../policy/paths';
import type { LinuxPlan } from '../../policy/plan';
import { SandboxError, SandboxErrorCode } from '../../errors';

/** The hidden location that covers `p` inside the sandbox, or undefined when `p` is visible. */
export function hiddenBy(plan: LinuxPlan, p: string): string | undefined {
  const bounds = [
    ...[...plan.writableRoots, ...plan.workspaceRoots].map((path) => ({ path, hidden: false })),
    ...[...plan.denyRead, ...plan.hiddenSockets, ...(plan.privateState ? [plan.privateState] : [])].map((path) => ({
      path,
      hidden: true,
    })),
  ].filter((b) => isWithin('linux', b.path, p));
  bounds.sort((a, b) => b.path.length - a.path.length || Number(b.hidden) - Number(a.hidden));
  return bounds[0]?.hidden ? bounds[0].path : undefined;
}

/** Throws SandboxError(hidden-path) when one of `paths` would be hidden inside the sandbox. */
export function checkVisible(plan: LinuxPlan, paths: { what: string; path: string }[]): void {
  for (const { what, path } of paths) {
    const real = realpath(path);
    const by = hiddenBy(plan, real);
    if (!by) continue;
    throw new SandboxError(
      SandboxErrorCode.HiddenPath,
      `The ${what} ${real} lies inside ${by}, which the sandbox hides (credentials or host sockets), so nothing was run.`,
      `Run from a folder outside ${by}, or open a workspace folder there (workspace folders inside it are bound back).`,
    );
  }
}

function realpath(p: string): string {
  try {
    return fs.realpathSync.native(p);
  } catch {
    return p;
  }
}
