/**
 * The elevated setup as idempotent steps over a SetupMachine: group, each user (created or re-keyed, flags,
 * hidden, memberships), the firewall rule, runtime read grants, workspace write grants, and the version marker.
 * Each step checks, changes only what differs, and reads back. Must never leave a half-configured rule: a rule
 * is only added fully formed, and a wrong one is removed first.
 */
import { isDeepStrictEqual } from 'node:util';
import { SandboxErrorCode } from '../../../errors';
import { BUILTIN_USERS_SID } from './constants';
import type { FirewallRule, GrantSpec, SetupPlan, UserSpec } from './setup-plan';
import { ruleUserSddl } from './setup-plan';
import { LEGACY_FIREWALL_RULE_NAMES } from '../../../policy/compile-win32';
import type { RuleReadback, SetupMachine } from './machine';
import type { ElevatedResult } from './payload';
import type { Step } from './steps';
import type { RuntimeLayout, RuntimeRecord } from './runtime-layout';

/** Stable per-step error codes (reported to the user and in logs). */
export const SetupStepCode = {
  Group: 'setup-group-failed',
  User: 'setup-user-failed',
  Firewall: 'setup-firewall-failed',
  FirewallPolicy: SandboxErrorCode.FirewallBlockedByPolicy,
  FirewallForeign: 'setup-firewall-rule-foreign',
  RuntimeCopy: 'setup-runtime-copy-failed',
  RuntimeGrants: 'setup-runtime-grant-failed',
  WorkspaceGrants: 'setup-workspace-grant-failed',
  ProfileTraverse: 'setup-profile-traverse-failed',
  Marker: 'setup-marker-failed',
} as const;

export class ReadbackError extends Error {
  override readonly name = 'ReadbackError';
}

/** What setup learns while it runs: SIDs and the passwords it set. */
export interface SetupState {
  groupSid?: string;
  users: ElevatedResult['users'];
}

export function setupSteps(plan: SetupPlan, m: SetupMachine, newPassword: () => string, state: SetupState): Step[] {
  return [
    groupStep(plan, m, state),
    ...plan.users.map((u) => userStep(u, plan.group.name, m, newPassword, state)),
    legacyRulesStep(m),
    ...plan.firewall.map((r) => firewallStep(r, m, state)),
    ...(plan.runtime ? [runtimeStep(plan.runtime, m, state)] : []),
    grantStep(
      'grant-profile-traverse',
      'Letting the sandbox users pass through the folders of your profile above your workspaces (nothing else)',
      SetupStepCode.ProfileTraverse,
      plan.grants.filter((g) => g.reason === 'profile-traverse'),
      m,
      state,
    ),
    grantStep(
      'grant-runtime',
      'Letting the sandbox users read and run VS Code, Node, git and your tools',
      SetupStepCode.RuntimeGrants,
      plan.grants.filter((g) => g.reason === 'runtime-read'),
      m,
      state,
    ),
    grantStep(
      'grant-workspace',
      'Letting the sandbox users write your workspace folders',
      SetupStepCode.WorkspaceGrants,
      plan.grants.filter((g) => g.reason === 'writable-root'),
      m,
      state,
    ),
    markerStep(plan, m, state),
  ];
}

function groupStep(plan: SetupPlan, m: SetupMachine, state: SetupState): Step {
  return {
    id: 'group',
    title: `Creating the local group ${plan.group.name}`,
    errorCode: SetupStepCode.Group,
    fix: 'Run setup again as an administrator. If a domain policy forbids local groups, ask your administrator.',
    async run() {
      let changed = false;
      const existing = await m.lookupGroup(plan.group.name);
      if (!existing) {
        await m.recordCreatedAccount(plan.group.name, PENDING);
        await m.createGroup(plan.group.name, plan.group.comment);
        changed = true;
      } else {
        await refuseForeign(m, plan.group.name, existing);
      }
      const sid = await m.lookupGroup(plan.group.name);
      if (!sid) throw new ReadbackError(`the group ${plan.group.name} does not exist after creating it`);
      await m.recordCreatedAccount(plan.group.name, sid);
      state.groupSid = sid;
      return { changed };
    },
  };
}

/** Recorded before an account is created, replaced by its SID once it exists. */
export const PENDING = 'pending';

/**
 * Setup never adopts an account of our name that it did not create (someone else's; its password would be reset
 * and uninstall would delete it): that is a failed step with the fix, and the account is left alone.
 */
async function refuseForeign(m: SetupMachine, name: string, sid: string): Promise<void> {
  const created = await m.createdAccount(name);
  if (created === PENDING || created?.toUpperCase() === sid.toUpperCase()) return;
  throw new ForeignAccountError(
    `an account named ${name} (${sid}) already exists and was not created by Agent Sandbox setup; ` +
      'it was left alone',
  );
}

export class ForeignAccountError extends Error {
  override readonly name = 'ForeignAccountError';
}

function userStep(u: UserSpec, groupName: string, m: SetupMachine, newPassword: () => string, state: SetupState): Step {
  return {
    id: `user-${u.network}`,
    title: `Creating the local account ${u.name}`,
    errorCode: SetupStepCode.User,
    fix:
      'Run setup again. If a password policy rejects the account, ask your administrator to exempt local ' +
      'accounts named AgentSandbox*.',
    async run() {
      // A fresh password on every run: only this run's caller can store it, so an old one is never reused.
      const password = newPassword();
      const before = await m.lookupUser(u.name);
      let changed = !before;
      if (!before) {
        await m.recordCreatedAccount(u.name, PENDING);
        await m.createUser(u, password);
      } else {
        await refuseForeign(m, u.name, before.sid);
        await m.setUserPassword(u.name, password);
      }
      const info = await m.lookupUser(u.name);
      if (!info) throw new ReadbackError(`the account ${u.name} does not exist after creating it`);
      await m.recordCreatedAccount(u.name, info.sid);
      if ((info.flags & u.flags) !== u.flags) {
        await m.setUserFlags(u.name, info.flags | u.flags);
        changed = true;
      }
      const after = await m.lookupUser(u.name);
      if (!after || (after.flags & u.flags) !== u.flags || after.priv !== u.priv) {
        throw new ReadbackError(
          `the account ${u.name} reads back with flags 0x${after?.flags.toString(16)} ` +
            `and privilege level ${after?.priv}; expected flags 0x${u.flags.toString(16)} and level ${u.priv}`,
        );
      }
      if (!(await m.isHiddenFromSignIn(u.name))) {
        await m.hideFromSignIn(u.name);
        changed = true;
      }
      if (!(await m.isHiddenFromSignIn(u.name)))
        throw new ReadbackError(`${u.name} is still shown on the sign-in screen`);
      for (const g of u.memberOf) {
        const group = g === 'builtin-users' ? { sid: BUILTIN_USERS_SID } : { name: groupName };
        if (!(await m.groupMembers(group)).includes(after.sid)) {
          await m.addGroupMember(group, after.sid);
          changed = true;
        }
        if (!(await m.groupMembers(group)).includes(after.sid)) {
          throw new ReadbackError(
            `${u.name} is not a member of ${'sid' in group ? 'Users' : groupName} after adding it`,
          );
        }
      }
      state.users = [
        ...state.users.filter((x) => x.network !== u.network),
        { network: u.network, name: u.name, sid: after.sid, password },
      ];
      return { changed };
    },
  };
}

function firewallStep(rule: FirewallRule, m: SetupMachine, state: SetupState): Step {
  return {
    id: `firewall-${rule.id}`,
    title: `Adding the firewall rule "${rule.name}"`,
    errorCode: SetupStepCode.Firewall,
    fix: 'Make sure the Windows Defender Firewall service is running, then run setup again.',
    classify: (e) =>
      e instanceof FirewallPolicyError
        ? {
            code: SetupStepCode.FirewallPolicy,
            fix:
              'Group Policy overrides local firewall rules on this machine. Ask ' +
              'your administrator to enable "Apply local firewall rules" (or to deploy the rule by policy), then run setup again.',
          }
        : e instanceof ForeignRuleError
          ? {
              code: SetupStepCode.FirewallForeign,
              fix:
                `Remove or rename the firewall rule "${rule.name}" (wf.msc > Outbound Rules, or ` +
                `\`netsh advfirewall firewall delete rule name="${rule.name}"\` if nothing needs it), then run setup again.`,
            }
          : undefined,
    async run() {
      const sid = state.users.find((u) => u.network === rule.user)?.sid;
      if (!sid) throw new Error(`the ${rule.user} account's SID is unknown (its step did not run)`);
      const sddl = ruleUserSddl(sid);
      const modify = await m.firewallModifyState();
      if (modify === 'gp-override') throw new FirewallPolicyError('Group Policy overrides local firewall rules');
      const existing = await m.getRules(rule.name);
      // A rule of our name that the rule ledger does not list is someone else's, even if it looks like ours: never
      // replaced or adopted (uninstall would then delete it).
      if (existing.length && !(await m.createdRules()).includes(rule.name)) {
        throw new ForeignRuleError(
          `a firewall rule named "${rule.name}" already exists and was not created by Agent Sandbox setup; it was left alone`,
        );
      }
      if (existing.length === 1 && ruleMatches(existing[0], rule, sddl)) return { changed: false };
      if (existing.length) await m.removeRule(rule.name);
      // Ledgered before it exists: a crash between the two still leaves uninstall knowing the rule is ours.
      await m.recordCreatedRule(rule.name);
      await m.addRule(rule, sddl);
      const back = await m.getRules(rule.name);
      if (back.length !== 1 || !ruleMatches(back[0], rule, sddl)) {
        throw new ReadbackError(`the firewall rule reads back differently: ${JSON.stringify(back)}`);
      }
      return { changed: true };
    },
  };
}

/**
 * Removes the rules an older setup created that this one replaces: version 1's single offline block covered every
 * loopback port, so with it present the allowlist proxy would be unreachable (block rules win). Only rules recorded
 * in the rule ledger or named as ours before the ledger existed, and only in our rule group's names.
 */
function legacyRulesStep(m: SetupMachine): Step {
  return {
    id: 'firewall-legacy',
    title: 'Removing firewall rules an older setup created',
    errorCode: SetupStepCode.Firewall,
    fix: 'Make sure the Windows Defender Firewall service is running, then run setup again.',
    async run() {
      let changed = false;
      for (const name of LEGACY_FIREWALL_RULE_NAMES) {
        if (!(await m.getRules(name)).length) continue;
        await m.removeRule(name);
        if ((await m.getRules(name)).length) throw new ReadbackError(`the old firewall rule "${name}" is still there`);
        changed = true;
      }
      return { changed };
    },
  };
}

export class FirewallPolicyError extends Error {
  override readonly name = 'FirewallPolicyError';
}

export class ForeignRuleError extends Error {
  override readonly name = 'ForeignRuleError';
}

/**
 * Every field must read back; a field the platform could not read counts as a mismatch (fail closed). Compared as
 * meaning, not text, where the firewall canonicalises what it stores: profiles by their three bits (ALL may read
 * back as 0x7fffffff or 7), addresses as a set, the user list as its set of ACEs.
 */
export function ruleMatches(r: RuleReadback, want: FirewallRule, sddl: string): boolean {
  const profiles = (p: number | undefined) => (p === undefined ? undefined : p & 7);
  const addresses = (a: string | undefined) =>
    a
      ?.split(',')
      .map((x) => x.trim().toLowerCase())
      .filter(Boolean)
      .sort()
      .join(',');
  // No port scope reads back as "*" (or nothing where the getter fails for a protocol without ports).
  const ports = (p: string | undefined) => (p === undefined || ['', '*'].includes(p.trim()) ? '*' : addresses(p));
  const aces = (s: string | undefined) =>
    s === undefined
      ? undefined
      : (
          s
            .toUpperCase()
            .replace(/\s+/g, '')
            .match(/\([^)]*\)/g) ?? []
        )
          .sort()
          .join('');
  return (
    isDeepStrictEqual(
      [
        r.direction,
        r.action,
        profiles(r.profiles),
        r.protocol,
        addresses(r.remoteAddresses),
        ports(r.remotePorts),
        r.enabled,
        aces(r.localUserAuthorizedList),
      ],
      [
        want.direction,
        want.action,
        profiles(want.profiles),
        want.protocol,
        addresses(want.remoteAddresses),
        ports(want.remotePorts),
        want.enabled,
        aces(sddl),
      ],
    ) && aces(sddl) !== ''
  );
}

function grantStep(
  id: string,
  title: string,
  errorCode: string,
  grants: GrantSpec[],
  m: SetupMachine,
  state: SetupState,
): Step {
  return {
    id,
    title,
    errorCode,
    fix:
      'A folder owned by someone else cannot be granted: take ownership or pick another folder, then run ' +
      'setup again.',
    async run() {
      const sid = state.groupSid;
      if (!sid) throw new Error('the sandbox group SID is unknown (its step did not run)');
      let changed = false;
      const problems: string[] = [];
      for (const g of grants) {
        try {
          if (await m.hasGrant(g.path, sid, g.mask, g.inheritance)) continue;
          await m.addGrant(g, sid);
          if (!(await m.hasGrant(g.path, sid, g.mask, g.inheritance)))
            throw new ReadbackError('the ACE does not read back');
          changed = true;
        } catch (e) {
          // One folder failing (owned by someone else, OneDrive placeholder) does not stop the others.
          problems.push(`${g.path}: ${(e as Error).message}`);
        }
      }
      if (grants.length && problems.length === grants.length) throw new Error(problems.join('; '));
      return { changed, problems };
    },
  };
}

const sameDir = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * Copies the runner (and a runtime that lives in the profile) to the machine location the backend starts it from,
 * recording the folder before copying; earlier versions' copies are removed, and one that cannot be (a runner of
 * that version still running) stays recorded for the next setup or uninstall.
 */
function runtimeStep(planned: RuntimeLayout | { error: string }, m: SetupMachine, state: SetupState): Step {
  if ('error' in planned) {
    return {
      id: 'runtime',
      title: 'Copying the runner out of your profile',
      errorCode: SetupStepCode.RuntimeCopy,
      fix: 'Reinstall Agent Sandbox, then run setup again.',
      run: () => Promise.reject(new Error(`the runner cannot be copied: ${planned.error}`)),
    };
  }
  const layout = planned;
  return {
    id: 'runtime',
    title: `Copying the runner${layout.runtimeCopied ? ' and its runtime' : ''} to ${layout.dir}`,
    errorCode: SetupStepCode.RuntimeCopy,
    fix:
      'Run setup again as an administrator. If a folder is owned by someone else, delete ' +
      `${layout.root} as an administrator first.`,
    async run() {
      const sid = state.groupSid;
      if (!sid) throw new Error('the sandbox group SID is unknown (its step did not run)');
      const recorded = await m.runtimeCopies();
      const mine: RuntimeRecord = { dir: layout.dir, runtimeOf: layout.runtimeOf };
      let changed = false;
      if (!recorded.some((r) => sameDir(r.dir, layout.dir))) {
        await m.recordRuntimeCopies([...recorded, mine]);
        changed = true;
      }
      if (!(await m.runtimeCopyComplete(layout))) {
        await m.materialiseRuntime(layout, sid);
        changed = true;
        if (!(await m.runtimeCopyComplete(layout))) throw new ReadbackError(`the copy in ${layout.dir} is incomplete`);
      }
      // Only this runtime's older copies go: the CLI's node.exe and VS Code each keep their own.
      const problems: string[] = [];
      const keep: RuntimeRecord[] = [mine];
      for (const r of recorded.filter((x) => !sameDir(x.dir, layout.dir))) {
        if (!sameDir(r.runtimeOf, layout.runtimeOf)) {
          keep.push(r);
          continue;
        }
        try {
          await m.removeRuntimeCopy(r.dir);
          changed = true;
        } catch (e) {
          keep.push(r);
          problems.push(`an earlier copy stays until the next setup or uninstall: ${r.dir}: ${(e as Error).message}`);
        }
      }
      if (keep.length !== (await m.runtimeCopies()).length) await m.recordRuntimeCopies(keep);
      return { changed, problems };
    },
  };
}

function markerStep(plan: SetupPlan, m: SetupMachine, state: SetupState): Step {
  return {
    id: 'marker',
    title: 'Recording the setup version',
    errorCode: SetupStepCode.Marker,
    fix: 'Run setup again as an administrator.',
    async run() {
      const sidOf = (n: string) => state.users.find((u) => u.network === n)?.sid ?? '';
      const marker = {
        version: plan.version,
        groupSid: state.groupSid ?? '',
        offlineSid: sidOf('offline'),
        onlineSid: sidOf('online'),
      };
      if (Object.values(marker).some((v) => v === '')) throw new Error('an earlier step did not record its SID');
      if (isDeepStrictEqual(await m.readMarker(), marker)) return { changed: false };
      await m.writeMarker(marker);
      if (!isDeepStrictEqual(await m.readMarker(), marker))
        throw new ReadbackError('the setup marker does not read back');
      return { changed: true };
    },
  };
}
