/** The fields every platform's plan takes straight from the resolved policy. Pure. */
import type { ResolvedPolicy } from './resolved';
import type { AllowlistPlan, PlanBase } from './plan';
import { DOMAIN_PRESETS, expandDomains } from './domains';

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

/** The allowlist section of a plan (presets expanded), or undefined outside `allowlist` mode. */
export function allowlistPlan(
  r: ResolvedPolicy,
  endpoint: AllowlistPlan['endpoint'],
  enforcement: string,
): AllowlistPlan | undefined {
  if (r.policy.network !== 'allowlist') return undefined;
  const used = [...r.policy.allowedDomains, ...r.policy.deniedDomains]
    .map((d) => d.trim())
    .filter((d) => DOMAIN_PRESETS[d]);
  return {
    allowed: expandDomains(r.policy.allowedDomains),
    denied: expandDomains(r.policy.deniedDomains),
    presets: [...new Set(used)].map((name) => ({ name, hosts: [...DOMAIN_PRESETS[name]] })),
    endpoint,
    enforcement,
  };
}
