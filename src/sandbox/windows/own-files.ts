/**
 * Agent Sandbox's own code inside a writable root (the CLI installed in the project's node_modules, or a checkout
 * of Agent Sandbox itself as the workspace): its bundles, koffi and the runtime get the protected-path deny, as
 * Linux binds them read-only, so a sandboxed command cannot change what the next run executes on the host. The
 * paths come from where this process runs (facts), the ops are added to the plan before preparing (pure).
 * Must never widen a plan: it only adds denies.
 */
import * as path from 'node:path';
import type { AclOperation, Win32Plan } from '../../policy/plan';
import { DENY_WRITE_MASK, INHERIT_ALL } from '../../policy/compile-win32';
import { isWithin } from '../../policy/paths';
import { runnerScript } from './runner-script';

/** The folders this installation runs from: the runner's bundle folder, koffi's package, the runtime's folder. */
export function ownFilePaths(): string[] {
  const out = [path.dirname(process.execPath)];
  try {
    out.push(path.dirname(runnerScript()));
  } catch {
    // No runner script (unit tests): nothing of ours to seal there.
  }
  try {
    out.push(path.dirname(require.resolve('koffi')));
  } catch {
    // koffi not resolvable from here: the backend fails to load later, with its own message.
  }
  return out;
}

/** The plan plus a write deny for each capability on every one of `own` that lies inside a writable root. */
export function sealOwnFiles(plan: Win32Plan, own: string[]): Win32Plan {
  const roots = plan.acl.filter((o) => o.action === 'grant' && o.reason === 'writable-root').map((o) => o.path);
  const caps = plan.token.restrictingSids.filter((s) => s.kind === 'capability');
  const inside = [...new Set(own.map((p) => path.win32.normalize(p)))].filter((p) =>
    roots.some((r) => isWithin('win32', r, p)),
  );
  const extra: AclOperation[] = inside.flatMap((p) =>
    caps.map((sid) => ({
      path: p,
      sid,
      action: 'deny' as const,
      mask: DENY_WRITE_MASK,
      inheritance: INHERIT_ALL,
      reason: 'protected-path' as const,
    })),
  );
  return extra.length ? { ...plan, acl: [...plan.acl, ...extra] } : plan;
}
