/**
 * What the Linux backend enforces for a plan: bubblewrap always (or nothing, and then spawn fails closed), Landlock
 * at the ABI the runner applied (or "bubblewrap only"), seccomp, and network isolation when offline. A spawned
 * command's report carries its runner's own `applied` notes (`appliedEnforcement`); `linuxEnforcement` previews
 * it from the plan by probing this machine (the kernel's Landlock ABI, read once). Must never report a step the
 * runner did not say it took.
 */
import { landlockAbi } from '../../../native-bindings/linux/landlock';
import type { LinuxPlan } from '../../policy/plan';
import type { Applied } from '../../protocol/linux';
import type { Enforcement } from '../types';
import { landlockLosses } from './landlock-losses';
import { linuxReadRules } from '../../policy/render';
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
    return {
      filesystem: 'none',
      network: 'none',
      notes: [`Not runnable: ${probe.error?.message ?? 'bubblewrap unusable'}`],
    };
  }
  return describe(plan, hostLandlockAbi(), probe.version);
}

/**
 * What a started command runs under: the mounts and network bubblewrap was launched with (host side), then the
 * runner's own notes verbatim (what it really applied: descriptors, no_new_privs, Landlock ABI and rules, seccomp),
 * never the plan's wishes, so no note claims a step the runner did not take.
 */
export function appliedEnforcement(plan: LinuxPlan, applied: Applied, limits: string[] = []): Enforcement {
  if (plan.confined === false) return unconfined();
  const offline = plan.network !== 'online';
  const notes = [
    ...mountNotes(plan, probedBwrapVersion()),
    ...applied.notes,
    ...landlockLosses(applied.landlockAbi, offline).map((lost) => `not enforced: ${lost}`),
    networkNote(plan),
    ...limits,
  ];
  return { filesystem: 'enforced', network: offline ? 'enforced' : 'none', notes };
}

function unconfined(): Enforcement {
  return { filesystem: 'none', network: 'none', notes: ['full-access: commands run without a sandbox'] };
}

function describe(
  plan: LinuxPlan,
  landlock: { abi: number; note?: string },
  bwrapVersion: string | undefined,
): Enforcement {
  // Allowlist keeps the private network namespace: only the relay to the proxy leaves it.
  const offline = plan.network !== 'online';
  const { abi, note } = landlock;
  const notes = mountNotes(plan, bwrapVersion);
  if (abi >= 1) {
    notes.push(`Landlock ABI ${abi}: writes only beneath ${plan.landlock.writablePaths.join(', ')}`);
    if (abi >= 4 && plan.landlock.connectTcpPorts) {
      notes.push(
        `Landlock: TCP bind denied; connect only to the proxy relay port(s) ${plan.landlock.connectTcpPorts.join(', ')}`,
      );
    } else if (abi >= 4 && offline) notes.push('Landlock: TCP bind/connect denied');
    if (abi >= 6) notes.push('Landlock: abstract Unix sockets and signals scoped to the sandbox');
    const rules = linuxReadRules(plan);
    if (rules.chains.length)
      notes.push(`Landlock: reads of entries created after start denied directly in ${rules.chains.join(', ')}`);
    if (rules.inWritable.length)
      notes.push(
        `not enforced by Landlock: reads of credentials created after start inside writable folders ` +
          `(${rules.inWritable.join(', ')}; hidden by mounts, the guard stops the sandbox)`,
      );
  } else {
    notes.push(`Landlock unavailable: bubblewrap only${note ? ` (${note})` : ''}`);
  }
  for (const lost of landlockLosses(abi, offline)) notes.push(`not enforced: ${lost}`);
  if (plan.landlock.requiredAbi > abi)
    notes.push(`requireFullLandlock: commands are refused (ABI ${abi} < ${plan.landlock.requiredAbi})`);
  notes.push(
    `seccomp: deny ${plan.seccomp.denySyscalls.join(', ')}, ioctl ${plan.seccomp.denyIoctls.join('/')}` +
      (plan.seccomp.allowSocketFamilies ? `; sockets only ${plan.seccomp.allowSocketFamilies.join(', ')}` : ''),
  );
  notes.push(networkNote(plan));
  return { filesystem: 'enforced', network: offline ? 'enforced' : 'none', notes };
}

/** What bubblewrap's mounts do (applied on the host's launch line, before the runner starts). */
function mountNotes(plan: LinuxPlan, bwrapVersion: string | undefined): string[] {
  return [
    `bubblewrap ${bwrapVersion ?? ''}`.trim() +
      ': read-only filesystem; writable: ' +
      [...plan.writableRoots, `${plan.tempDir} (as /tmp)`].join(', '),
    `${plan.protectedPaths.length} protected path(s) read-only; ${plan.denyRead.length} credential path(s) and ` +
      `${plan.hiddenSockets.length} host socket location(s) hidden`,
  ];
}

/** The network bubblewrap was launched into. */
function networkNote(plan: LinuxPlan): string {
  if (plan.allowlist)
    return `network allowlist (${plan.allowlist.allowed.length} host entries): ${plan.allowlist.enforcement}`;
  if (plan.network !== 'online') return 'network: private network namespace (no interfaces but loopback)';
  return plan.userNet
    ? "network: own namespace through slirp4netns, no route to the host's loopback (online)"
    : 'network: host network, 127.0.0.1 included (online, allowHostLoopback)';
}
