/**
 * The elevated setup as pure data, taken from the elevated Win32Plan (compile-win32 plans elevated mode, nowhere
 * else): the plan's group and accounts, its firewall rules in the form COM writes them, and the group's grants on the
 * runtime folders and writable roots, with every flag spelled out. Setup executes this, status compares against
 * it, and "setup" shows it before the UAC prompt. Must never touch the machine: it only computes.
 */
import * as path from 'node:path';
import type { AccessMask, AclOperation, FirewallRuleSpec, Network, PlanSid, Win32Plan } from '../../../policy';
import { sandboxAccounts, sandboxFirewallRules } from '../../../policy/compile-win32';
import { broadRootReason } from '../../../policy/paths';
import { FIREWALL_GROUPING, GROUP_COMMENT, GROUP_NAME, SETUP_VERSION } from './constants';
import { localUserAuthorizedList } from './sddl';
import type { FwRuleSpec } from '../../../../native-bindings/win32/firewall';
import type { RuntimeLayout } from './runtime-layout';
import { TRAVERSE_INHERITANCE, TRAVERSE_MASK, profileTraverseFolders } from './profile-traverse';

/** lmaccess.h */
export const USER_PRIV_USER = 1;
export const UserFlags = {
  UF_SCRIPT: 0x1,
  UF_PASSWD_CANT_CHANGE: 0x40,
  UF_DONT_EXPIRE_PASSWD: 0x10000,
} as const;

/** icftypes.h */
export const NET_FW_RULE_DIR_OUT = 2;
export const NET_FW_ACTION_BLOCK = 0;
export const NET_FW_PROFILE2_ALL = 0x7fffffff;
export const NET_FW_IP_PROTOCOL_ANY = 256;
/** IANA protocol numbers, as INetFwRule::Protocol takes them. */
export const FW_PROTOCOL = { tcp: 6, udp: 17, icmpv4: 1, icmpv6: 58 } as const;

export interface UserSpec {
  name: string;
  network: Network;
  comment: string;
  priv: number;
  /** UF_* flags; a sandboxed command must not be able to change its own password (it would lock us out). */
  flags: number;
  hiddenFromSignIn: true;
  /** Local groups by SID or our own group name; never a bare name lookup. */
  memberOf: ('builtin-users' | 'sandbox-group')[];
}

/** The rule as written through COM (FwRuleSpec), less the SDDL, which setup fills in from the user's SID. */
export interface FirewallRule extends Omit<FwRuleSpec, 'enabled' | 'localUserAuthorizedList'> {
  /** The plan's stable rule id (`offline-not-loopback`). */
  id: string;
  enabled: true;
  /** Which sandbox user's SID goes into LocalUserAuthorizedList. */
  user: Network;
}

export interface GrantSpec {
  path: string;
  /** The sandbox group; resolved to its SID by setup. */
  sid: 'sandbox-group';
  mask: AccessMask;
  inheritance: AccessMask;
  /** `profile-traverse`: traverse-only and non-inheriting, on a folder between the profile root and a target. */
  reason: 'runtime-read' | 'writable-root' | 'profile-traverse';
  /** Created (and removed again at uninstall while empty) when missing: the folders above the sandbox's temp. */
  createIfMissing?: 'dir';
}

export interface SetupPlan {
  version: number;
  group: { name: string; comment: string };
  users: UserSpec[];
  firewall: FirewallRule[];
  grants: GrantSpec[];
  /** Paths refused for a grant, with the reason (shown to the user; setup goes on without them). */
  refused: { path: string; reason: string }[];
  /**
   * The runner's copy outside the profile, which the elevated backend starts the runner from. Computed by the
   * elevated process from its own installation (absent: no copy step, as for status and uninstall); `error` when
   * it cannot be (the copy step then fails with it, after the steps before it ran).
   */
  runtime?: RuntimeLayout | { error: string };
}

export interface SetupPlanInput {
  /**
   * The plan compiled for elevated mode. Absent, only the machine-wide part (group, accounts, firewall rules) is
   * built, for status and uninstall, which need no grants.
   */
  plan?: Win32Plan;
  /** The developer's profile folder: never granted on (Codex users got temporary profiles). */
  home: string;
}

/** The grants setup applies, as administrator and machine-wide: the sandbox group's on runtime folders and roots. */
export function isSetupGrant(op: AclOperation, group: PlanSid): boolean {
  return (
    op.action === 'grant' &&
    (op.reason === 'runtime-read' || op.reason === 'writable-root') &&
    JSON.stringify(op.sid) === JSON.stringify(group)
  );
}

export function buildSetupPlan(input: SetupPlanInput): SetupPlan {
  const { plan } = input;
  if (plan && (plan.windowsMode !== 'elevated' || !plan.accounts)) {
    throw new Error('The setup plan needs a plan compiled for elevated mode.');
  }
  const refused: SetupPlan['refused'] = [];
  const grants: GrantSpec[] = [];
  const seen = new Set<string>();
  const ops = plan?.accounts ? plan.acl.filter((op) => isSetupGrant(op, plan.accounts!.group)) : [];
  // Runtime folders first: the accounts can run the tools before they can write anywhere.
  for (const op of [
    ...ops.filter((o) => o.reason === 'runtime-read'),
    ...ops.filter((o) => o.reason !== 'runtime-read'),
  ]) {
    const full = path.win32.normalize(op.path).replace(/\\+$/, '') || op.path;
    const why = refusalReason(full, input.home);
    if (why) {
      refused.push({ path: full, reason: why });
      continue;
    }
    const reason = op.reason as GrantSpec['reason'];
    const key = `${reason}:${full.toLowerCase()}`;
    if (seen.has(key)) continue;
    seen.add(key);
    grants.push({ path: full, sid: 'sandbox-group', mask: op.mask, inheritance: op.inheritance, reason });
  }
  if (plan) grants.push(...traverseGrants(plan, grants, input.home));
  return {
    version: SETUP_VERSION,
    group: { name: GROUP_NAME, comment: GROUP_COMMENT },
    users: (plan?.accounts?.users ?? sandboxAccounts()).map(userSpec),
    firewall: (plan?.firewall ?? sandboxFirewallRules()).map(firewallRule),
    grants,
    refused,
  };
}

/**
 * The traverse-only ACEs on the folders between the profile root and each granted folder or the sandbox's temp
 * (./profile-traverse), so Node can lstat its way there. The temp folder is made by the first command, so the
 * folders above it that are missing are created.
 */
function traverseGrants(plan: Win32Plan, grants: GrantSpec[], home: string): GrantSpec[] {
  const spec = (p: string, createIfMissing?: 'dir'): GrantSpec => ({
    path: p,
    sid: 'sandbox-group',
    mask: TRAVERSE_MASK,
    inheritance: TRAVERSE_INHERITANCE,
    reason: 'profile-traverse',
    ...(createIfMissing ? { createIfMissing } : {}),
  });
  const granted = grants.map((g) => g.path);
  const forGrants = new Set(profileTraverseFolders(granted, home).map((p) => p.toLowerCase()));
  return profileTraverseFolders([...granted, plan.tempDir], home).map((p) =>
    spec(p, forGrants.has(p.toLowerCase()) ? undefined : 'dir'),
  );
}

function userSpec({ name, network }: { name: string; network: Network }): UserSpec {
  return {
    name,
    network,
    comment: `Agent Sandbox: runs sandboxed commands (${network}). Created by "agent-sandbox setup".`,
    priv: USER_PRIV_USER,
    flags: UserFlags.UF_SCRIPT | UserFlags.UF_PASSWD_CANT_CHANGE | UserFlags.UF_DONT_EXPIRE_PASSWD,
    hiddenFromSignIn: true,
    memberOf: ['builtin-users', 'sandbox-group'],
  };
}

/** The plan's rule as COM writes it (every property set before the rule is added). */
function firewallRule(spec: FirewallRuleSpec): FirewallRule {
  if (spec.user.kind !== 'sandbox-user')
    throw new Error(`The firewall rule "${spec.name}" must name a sandbox account.`);
  if (spec.remotePorts !== undefined && spec.protocol !== 'tcp' && spec.protocol !== 'udp')
    throw new Error(`The firewall rule "${spec.name}" scopes ports without TCP or UDP.`);
  return {
    id: spec.id,
    name: spec.name,
    description: spec.description,
    grouping: FIREWALL_GROUPING,
    direction: NET_FW_RULE_DIR_OUT,
    action: NET_FW_ACTION_BLOCK,
    profiles: NET_FW_PROFILE2_ALL,
    protocol: spec.protocol ? FW_PROTOCOL[spec.protocol] : NET_FW_IP_PROTOCOL_ANY,
    remoteAddresses: spec.remoteAddresses,
    ...(spec.remotePorts !== undefined ? { remotePorts: spec.remotePorts } : {}),
    enabled: true,
    user: spec.user.network,
  };
}

/** The SDDL for a rule's LocalUserAuthorizedList once the user's SID is known. */
export function ruleUserSddl(sid: string): string {
  return localUserAuthorizedList(sid);
}

/** Why a path must not get a grant, or undefined when it may: the policy's over-broad roots, plus registry hives. */
export function refusalReason(p: string, home: string): string | undefined {
  const w = path.win32;
  if (!w.isAbsolute(p) || p.startsWith('\\\\')) return 'not a local absolute path';
  const norm = w.normalize(p).replace(/\\+$/, '');
  if (w.basename(norm).toLowerCase().startsWith('ntuser.')) return 'a registry hive';
  return broadRootReason(
    { platform: 'win32', home, userTemp: w.join(home, 'AppData', 'Local', 'Temp') },
    /^[a-z]:$/i.test(norm) ? `${norm}\\` : norm,
  );
}
