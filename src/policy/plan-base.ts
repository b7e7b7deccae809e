/** The fields every platform's plan takes straight from the resolved policy. Pure. */
import type { ResolvedPolicy } from './resolved';
import type { PlanBase } from './plan';

export function planBase(r: ResolvedPolicy): Omit<PlanBase, 'platform' | 'warnings'> {
  return {
    version: 1,
    mode: r.policy.mode,
    network: r.policy.network,
    writableRoots: r.writableRoots,
    workspaceRoots: r.workspaceRoots,
    protectedPaths: r.protectedPaths,
    denyRead: r.denyRead,
    env: r.env,
    tempDir: r.tempDir,
    unprotected: r.unprotected,
  };
}
