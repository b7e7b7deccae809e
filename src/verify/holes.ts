/**
 * Deliberate holes for testing the verifier (an internal hook, never a user setting): each weakens a copy of the
 * compiled plan in one way, so a test can prove the verifier fails exactly the matching checks. Pure. Must never
 * be reachable from settings or CLI flags.
 */
import * as path from 'node:path';
import type { LinuxPlan, Plan, PlanSid, Win32Plan } from '../policy/plan';
import { FileRights, INHERIT_NONE, mask } from '../policy/compile-win32';
import { SandboxError, SandboxErrorCode } from '../errors';
import type { VerifyHole } from './types';

export interface HoleTargets {
  /** The secret variable the verifier planted. */
  secretEnv: string;
  /** The hidden folder holding the verifier's fake secret. */
  secretDir: string;
  /** The protected path to leave unprotected. */
  protectedPath: string;
  home: string;
  /** The verifier's stand-in for $XDG_RUNTIME_DIR, whose sockets the plan hides. */
  runtimeDir: string;
  /** Allowlist: the name the verifier expects the proxy to refuse. */
  deniedName: string;
}

export function applyHole(plan: Plan, hole: VerifyHole, t: HoleTargets): Plan {
  const p = structuredClone(plan);
  if (hole === 'secret-env') {
    p.env.remove = p.env.remove.filter((n) => n !== t.secretEnv);
    return p;
  }
  if (p.platform === 'win32') {
    const weaken = win32Holes[hole as Win32Hole];
    if (!weaken) throw onlyFor(hole, 'Linux');
    weaken(p);
    return p;
  }
  if (hole.startsWith('win-')) throw onlyFor(hole, 'Windows');
  linuxHoles[hole as LinuxHole](p, t);
  return p;
}

function onlyFor(hole: VerifyHole, platform: string): SandboxError {
  return new SandboxError(
    SandboxErrorCode.Internal,
    `The "${hole}" test hole exists only for ${platform} plans.`,
    `Use a ${platform} plan.`,
  );
}

type Win32Hole = Extract<VerifyHole, `win-${string}`> | 'network' | 'allowlist-direct';
type LinuxHole = Exclude<VerifyHole, 'secret-env' | `win-${string}`>;

const win32Holes: Record<Win32Hole, (p: Win32Plan) => void> = {
  'win-no-pseudoconsole'(p) {
    p.weakened = { ...p.weakened, noPseudoconsole: true };
  },
  // Elevated: without the account's own SID among the restricting SIDs, default-security named pipes are EPERM.
  'win-own-sid'(p) {
    const own = (s: PlanSid) => s.kind === 'sandbox-user';
    p.token.restrictingSids = p.token.restrictingSids.filter((s) => !own(s));
    p.token.defaultDacl = p.token.defaultDacl.filter((d) => !own(d.sid));
  },
  'win-no-private-desktop'(p) {
    p.weakened = { ...p.weakened, noPrivateDesktop: true };
  },
  'win-no-ui-limits'(p) {
    p.weakened = { ...p.weakened, noUiLimits: true };
  },
  'win-no-safe-directory'(p) {
    p.weakened = { ...p.weakened, noSafeDirectory: true };
  },
  // Elevated: the folder above the workspace as if setup had not given the group its traverse-only ACE there
  // (review §3.4): a deny of traverse, listing and reading attributes for the group, so Node's realpath cannot
  // lstat it. The ACE is ledgered like any other (uninstall reverts it); the hook runs on throwaway workspaces.
  'win-no-ancestor-traverse'(p) {
    const group = p.accounts?.group;
    const root = p.workspaceRoots[0];
    if (p.windowsMode !== 'elevated' || !group || !root) throw onlyFor('win-no-ancestor-traverse', 'elevated Windows');
    p.acl.push({
      path: path.win32.dirname(root),
      sid: group,
      action: 'deny',
      mask: mask(FileRights, ['FILE_READ_DATA', 'FILE_EXECUTE', 'FILE_READ_ATTRIBUTES']),
      inheritance: INHERIT_NONE,
      reason: 'protected-path',
    });
  },
  // Elevated offline: the command runs as the online account, which no firewall rule blocks.
  network: runAsOnline,
  // Elevated allowlist: the same, with the plan's allowlist (so the proxy and the command's credential) kept: the
  // firewall rules are machine-wide, so only the bypass checks may fail.
  'allowlist-direct': runAsOnline,
};

function runAsOnline(p: Win32Plan): void {
  const online = (s: PlanSid): PlanSid => (s.kind === 'sandbox-user' ? { ...s, network: 'online' } : s);
  p.network = 'online';
  p.token.restrictingSids = p.token.restrictingSids.map(online);
  p.token.defaultDacl = p.token.defaultDacl.map((d) => ({ ...d, sid: online(d.sid) }));
}

const linuxHoles: Record<LinuxHole, (p: LinuxPlan, t: HoleTargets) => void> = {
  network(p) {
    // Every layer: the namespace, the socket filter, and what the backend derives from `network` (Landlock TCP).
    p.bwrapArgs = p.bwrapArgs.filter((a) => a !== '--unshare-net');
    p.seccomp.allowSocketFamilies = null;
    p.network = 'online';
  },
  'protected-path'(p, t) {
    p.bwrapArgs = dropMount(p.bwrapArgs, '--ro-bind', t.protectedPath);
    p.placeholders = p.placeholders.filter((x) => x.path !== t.protectedPath);
    p.protectedPaths = p.protectedPaths.filter((x) => x.path !== t.protectedPath);
    p.guardedPaths = p.guardedPaths.filter((x) => x !== t.protectedPath);
  },
  'deny-read'(p, t) {
    p.bwrapArgs = dropMount(dropMount(p.bwrapArgs, '--tmpfs', t.secretDir), '--remount-ro', t.secretDir);
    p.denyRead = p.denyRead.filter((d) => d !== t.secretDir);
  },
  'home-write'(p, t) {
    // Right after `--ro-bind / /`, so every later mount (hidden credentials, protected paths) still stacks on top.
    const at = p.bwrapArgs.findIndex((a, i) => a === '--ro-bind' && p.bwrapArgs[i + 1] === '/') + 3;
    p.bwrapArgs.splice(at, 0, '--bind', t.home, t.home);
    p.landlock.writablePaths.push(t.home);
  },
  'host-socket'(p, t) {
    p.bwrapArgs = dropMount(dropMount(p.bwrapArgs, '--tmpfs', t.runtimeDir), '--remount-ro', t.runtimeDir);
    p.hiddenSockets = p.hiddenSockets.filter((s) => s !== t.runtimeDir);
    p.hideLateSockets = false; // nor hidden at launch, as sockets that appear after the plan are
  },
  orphan(p) {
    p.bwrapArgs = p.bwrapArgs.filter((a) => a !== '--unshare-pid' && a !== '--die-with-parent');
    // The resource-limit cgroup also takes every process of the sandbox with it when it is removed.
    p.limits = { pids: 0, memoryBytes: 0 };
  },
  // Allowlist: the proxy stays, but nothing stops a command going around it (host network, no socket or port rules).
  'allowlist-direct'(p) {
    p.bwrapArgs = p.bwrapArgs.filter((a) => a !== '--unshare-net');
    p.seccomp.allowSocketFamilies = null;
    delete p.seccomp.tcpOnlySocketFamilies;
    delete p.landlock.connectTcpPorts;
  },
  // Allowlist: the proxy lets through a name the policy does not allow.
  'allowlist-all'(p, t) {
    p.allowlist?.allowed.push(t.deniedName);
  },
  // Allowlist: loopback allowed literally, so a name resolving there passes the rebinding check.
  'allowlist-private'(p) {
    p.allowlist?.allowed.push('127.0.0.1');
  },
};

/** Removes every `flag target [target]` mount whose destination is `target`. */
function dropMount(args: string[], flag: string, target: string): string[] {
  const arity = flag === '--ro-bind' || flag === '--bind' ? 2 : 1;
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag && args[i + arity] === target) {
      i += arity;
      continue;
    }
    out.push(args[i]);
  }
  return out;
}
