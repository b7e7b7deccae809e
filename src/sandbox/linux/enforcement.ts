/**
 * What the Linux backend enforces for a plan: bubblewrap always (or nothing, and then spawn fails closed), Landlock
 * at the ABI the runner applied (or "bubblewrap only"), seccomp, and network isolation when offline. A spawned
 * command's report comes from its runner's `applied` message (`appliedEnforcement`); `linuxEnforcement` previews
 * it by probing this machine (the kernel's Landlock ABI, read once).
 */
import { landlockAbi } from '../../../native-bindings/linux/landlock';
import type { LinuxPlan } from '../../policy/plan';
import type { Applied } from '../../protocol/linux';
import type { Enforcement } from '../types';
import { probeBwrap, probedBwrapVersion } from './probe';

let abiCache: { abi: number; note?: string } | undefined;

export function hostLandlockAbi(): { abi: number; note?: string } {
  if (!abiCache) {
    try {
      abiCache = { abi: landlockAbi() };
    } catch (e) {
      abiCache = { abi: 0, note: `Landlock probe failed: ${(e as Error).message}` };
    }
  }
  return abiCache;
}

export function linuxEnforcement(plan: LinuxPlan): Enforcement {
  if (plan.confined === false) return unconfined();
  const probe = probeBwrap();
  if (!probe.ok) {
    return { filesystem: 'none', network: 'none', notes: [`Not runnable: ${probe.error?.message ?? 'bubblewrap unusable'}`] };
  }
  return describe(plan, hostLandlockAbi(), probe.version);
}

/** What the runner of a started command reported it applied, inside the bubblewrap that started it. */
export function appliedEnforcement(plan: LinuxPlan, applied: Applied): Enforcement {
  if (plan.confined === false) return unconfined();
  return describe(plan, { abi: applied.landlockAbi }, probedBwrapVersion());
}

function unconfined(): Enforcement {
  return { filesystem: 'none', network: 'none', notes: ['full-access: commands run without a sandbox'] };
}

function describe(plan: LinuxPlan, landlock: { abi: number; note?: string }, bwrapVersion: string | undefined): Enforcement {
  const offline = plan.network === 'offline';
  const { abi, note } = landlock;
  const notes = [
    `bubblewrap ${bwrapVersion ?? ''}`.trim() + ': read-only filesystem; writable: ' +
      [...plan.writableRoots, `${plan.tempDir} (as /tmp)`].join(', '),
    `${plan.protectedPaths.length} protected path(s) read-only; ${plan.denyRead.length} credential path(s) and ` +
      `${plan.hiddenSockets.length} host socket location(s) hidden`,
  ];
  if (abi >= 1) {
    notes.push(`Landlock ABI ${abi}: writes only beneath ${plan.landlock.writablePaths.join(', ')}`);
    if (abi >= 4 && offline) notes.push('Landlock: TCP bind/connect denied');
    if (abi >= 6) notes.push('Landlock: abstract Unix sockets and signals scoped to the sandbox');
  } else {
    notes.push(`Landlock unavailable: bubblewrap only${note ? ` (${note})` : ''}`);
  }
  notes.push(`seccomp: deny ${plan.seccomp.denySyscalls.join(', ')}, ioctl ${plan.seccomp.denyIoctls.join('/')}` +
    (plan.seccomp.allowSocketFamilies ? `; sockets only ${plan.seccomp.allowSocketFamilies.join(', ')}` : ''));
  notes.push(offline ? 'network: private network namespace (no interfaces but loopback)' : 'network: host network (online)');
  return { filesystem: 'enforced', network: offline ? 'enforced' : 'none', notes };
}
