/**
 * What the Linux backend actually enforces for a plan on this machine: bubblewrap always (or nothing, and then
 * spawn fails closed), Landlock at the best ABI the kernel offers (or "bubblewrap only"), seccomp, and network
 * isolation when offline. Reads the kernel's Landlock ABI once.
 */
import { landlockAbi } from '../../../native-bindings/linux/landlock';
import type { LinuxPlan } from '../../policy/plan';
import type { Enforcement } from '../types';
import { landlockLosses } from './landlock-losses';
import { probeBwrap } from './probe';

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
  if (plan.confined === false) {
    return { filesystem: 'none', network: 'none', notes: ['full-access: commands run without a sandbox'] };
  }
  const probe = probeBwrap();
  if (!probe.ok) {
    return { filesystem: 'none', network: 'none', notes: [`Not runnable: ${probe.error?.message ?? 'bubblewrap unusable'}`] };
  }
  const offline = plan.network === 'offline';
  const { abi, note } = hostLandlockAbi();
  const notes = [
    `bubblewrap ${probe.version ?? ''}`.trim() + ': read-only filesystem; writable: ' +
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
  for (const lost of landlockLosses(abi, offline)) notes.push(`not enforced: ${lost}`);
  if (plan.landlock.requiredAbi > abi) notes.push(`requireFullLandlock: commands are refused (ABI ${abi} < ${plan.landlock.requiredAbi})`);
  notes.push(`seccomp: deny ${plan.seccomp.denySyscalls.join(', ')}, ioctl ${plan.seccomp.denyIoctls.join('/')}` +
    (plan.seccomp.allowSocketFamilies ? `; sockets only ${plan.seccomp.allowSocketFamilies.join(', ')}` : ''));
  notes.push(offline ? 'network: private network namespace (no interfaces but loopback)'
    : plan.userNet ? 'network: own namespace through slirp4netns, no route to the host\'s loopback (online)'
      : 'network: host network, 127.0.0.1 included (online, allowHostLoopback)');
  return { filesystem: 'enforced', network: offline ? 'enforced' : 'none', notes };
}
