/**
 * The real SetupMachine: netapi32 accounts and groups, the HKLM marker and sign-in visibility, firewall COM, and
 * ACL grants through the shared ledger (src/sandbox/windows/ledger.ts, the same file the unelevated backend uses),
 * so uninstall reverts exactly what setup added. Runs elevated for setup and uninstall, unelevated for status.
 * Must never grant anything that is not recorded in the ledger first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AccessMask } from '../../../policy';
import * as users from '../../../../native-bindings/win32/users';
import {
  deleteMachineKey,
  deleteMachineKeyIfEmpty,
  deleteMachineValue,
  getMachineValue,
  machineKeyExists,
  setMachineValues,
} from '../../../../native-bindings/win32/registry';
import { FirewallPolicy, FwModifyState, readRule } from '../../../../native-bindings/win32/firewall';
import { fileSecurityStore } from '../file-store';
import { readFirewallFacts } from '../firewall-state';
import { withFileLock } from '../../../file-lock';
import {
  applyOperations,
  grantComplete,
  isElevatedRecord,
  loadLedger,
  revertLedger,
  saveLedger,
  type ResolvedAclOp,
} from '../ledger';
import { LEDGER_FILE } from '../prepare';
import { CREATED_KEY, CREATED_RULES_KEY, MARKER_KEY, RUNTIME_KEY, RUNTIME_ROOT_KEY, SANDBOX_USERS } from './constants';
import { hideFromSignIn, isHiddenFromSignIn, unhideFromSignIn, type MachineRegistry } from './sign-in-visibility';
import {
  machineRuntimeRoot,
  materialiseRuntime,
  parseRuntimeRecords,
  removeRuntimeCopy,
  runtimeCopyComplete,
  win32RuntimeAcl,
  type RuntimeRootLedger,
  type RuntimeRootRecord,
} from './runtime-copy';
import type { FirewallModifyState, Marker, RuleReadback, SetupMachine } from './machine';
import type { FirewallRule, GrantSpec, UserSpec } from './setup-plan';

const GROUP_TYPES = [users.SidType.Alias, users.SidType.Group];

const registry: MachineRegistry = {
  keyExists: machineKeyExists,
  getValue: getMachineValue,
  setValues: setMachineValues,
  deleteValue: deleteMachineValue,
  deleteKey: deleteMachineKey,
  deleteKeyIfEmpty: deleteMachineKeyIfEmpty,
};

export function win32Machine(opts: { stateDir: string; home: string }): SetupMachine {
  const ledgerFile = path.join(opts.stateDir, LEDGER_FILE);
  const store = fileSecurityStore(opts.stateDir);
  const groupName = (g: { sid: string } | { name: string }) => ('sid' in g ? users.accountNameOfSid(g.sid) : g.name);
  const withPolicy = <T>(use: (p: FirewallPolicy) => T): T => {
    const p = FirewallPolicy.open();
    try {
      return use(p);
    } finally {
      p.close();
    }
  };
  const op = (
    p: string,
    sid: string,
    mask: AccessMask,
    inheritance: AccessMask,
    reason = 'elevated-setup',
  ): ResolvedAclOp => ({ path: p, sid, action: 'grant', mask: mask.value, inheritance: inheritance.value, reason });

  return {
    lookupGroup: async (name) => users.lookupLocalAccount(name, GROUP_TYPES),
    createGroup: async (name, comment) => users.addLocalGroup(name, comment),
    deleteGroup: async (name) => users.deleteLocalGroup(name),
    groupMembers: async (g) => users.localGroupMembers(groupName(g)),
    addGroupMember: async (g, sid) => users.addLocalGroupMember(groupName(g), sid),

    lookupUser: async (name) => users.getUser(name),
    createUser: async (spec: UserSpec, password) =>
      users.addUser({ name: spec.name, password, priv: spec.priv, flags: spec.flags, comment: spec.comment }),
    setUserPassword: async (name, password) => users.setUserPassword(name, password),
    setUserFlags: async (name, flags) => users.setUserFlags(name, flags),
    deleteUser: async (name) => users.deleteUser(name),
    deleteProfile: async (sid) => users.deleteProfile(sid),

    isHiddenFromSignIn: async (name) => isHiddenFromSignIn(registry, name),
    hideFromSignIn: async (name) => hideFromSignIn(registry, name),
    // SpecialAccounts\UserList goes only if setup created it (./sign-in-visibility).
    unhideFromSignIn: async (name) => unhideFromSignIn(registry, name, Object.values(SANDBOX_USERS)),

    firewallModifyState: async (): Promise<FirewallModifyState> => {
      const { state: s, perProfile } = withPolicy((p) => p.localPolicyModify());
      if (perProfile) return 'per-profile';
      return s === FwModifyState.GP_OVERRIDE
        ? 'gp-override'
        : s === FwModifyState.INBOUND_BLOCKED
          ? 'inbound-blocked'
          : 'ok';
    },
    firewallFacts: async () => readFirewallFacts(),
    getRules: async (name): Promise<RuleReadback[]> =>
      withPolicy((p) => {
        const rule = p.item(name);
        if (!rule) return [];
        try {
          const r = readRule(rule);
          return [{ ...r, name: r.name ?? name }];
        } finally {
          rule.close();
        }
      }),
    removeRule: async (name) =>
      withPolicy((p) => {
        // Remove deletes one rule per call; duplicates with the same name are removed until none is left.
        for (let i = 0; i < 64 && p.item(name); i++) p.remove(name);
      }),
    addRule: async (rule: FirewallRule, sddl) =>
      withPolicy((p) =>
        p.add({
          name: rule.name,
          description: rule.description,
          grouping: rule.grouping,
          direction: rule.direction,
          action: rule.action,
          profiles: rule.profiles,
          protocol: rule.protocol,
          remoteAddresses: rule.remoteAddresses,
          ...(rule.remotePorts !== undefined ? { remotePorts: rule.remotePorts } : {}),
          enabled: rule.enabled,
          localUserAuthorizedList: sddl,
        }),
      ),
    createdRules: async () => createdRuleNames(),
    recordCreatedRule: async (name) => {
      const names = createdRuleNames();
      if (!names.includes(name)) setMachineValues(CREATED_RULES_KEY, { Names: JSON.stringify([...names, name]) });
    },
    forgetCreatedRule: async (name) => {
      const names = createdRuleNames().filter((n) => n !== name);
      if (names.length) setMachineValues(CREATED_RULES_KEY, { Names: JSON.stringify(names) });
      else deleteMachineKey(CREATED_RULES_KEY);
    },

    // A grant whose write was recorded but never finished (a crash, a failed propagation) is not there yet.
    hasGrant: async (p, sid, mask, inheritance) =>
      store.kind(p) !== 'missing' &&
      grantComplete(store.entries(p), loadLedger(ledgerFile), op(p, sid, mask, inheritance, 'elevated-setup')),
    addGrant: async (g: GrantSpec, sid) => {
      // The same ledger file as the unelevated backend's, which may be preparing right now: locked.
      const result = await withFileLock(ledgerFile, () => {
        const ledger = loadLedger(ledgerFile);
        const r = applyOperations(
          [
            {
              ...op(g.path, sid, g.mask, g.inheritance, `elevated-${g.reason}`),
              // Traverse ACEs sit on the profile's folders: written on each folder alone, never re-propagated.
              ...(g.reason === 'profile-traverse' ? { inPlace: true as const } : {}),
              ...(g.createIfMissing ? { createIfMissing: g.createIfMissing } : {}),
            },
          ],
          store,
          ledger,
          opts.home,
          undefined,
          () => saveLedger(ledgerFile, ledger),
        );
        saveLedger(ledgerFile, ledger);
        return r;
      });
      if (result.failures.length) throw result.failures[0].error;
      if (result.skipped.length && store.kind(g.path) === 'missing') throw new Error('the folder does not exist');
    },
    revertGrants: async (sid) => {
      const result = await withFileLock(ledgerFile, () => {
        const ledger = loadLedger(ledgerFile);
        const r = revertLedger(ledger, store, (x) =>
          sid === undefined ? isElevatedRecord(x) : x.sid.toUpperCase() === sid.toUpperCase(),
        );
        saveLedger(ledgerFile, ledger);
        return r;
      });
      return {
        reverted: result.reverted.length,
        failed: result.failures.map((f) => `${f.record.path}: ${(f.error as Error).message ?? String(f.error)}`),
      };
    },

    createdAccount: async (name) => {
      const v = getMachineValue(CREATED_KEY, name, 'string');
      return v === undefined ? undefined : String(v);
    },
    recordCreatedAccount: async (name, sid) => setMachineValues(CREATED_KEY, { [name]: sid }),
    forgetCreatedAccount: async (name) => {
      deleteMachineValue(CREATED_KEY, name);
      deleteMachineKeyIfEmpty(CREATED_KEY);
    },
    runtimeCopies: async () => parseRuntimeRecords(getMachineValue(RUNTIME_KEY, 'Copies', 'string')),
    recordRuntimeCopies: async (copies) => {
      if (copies.length) setMachineValues(RUNTIME_KEY, { Copies: JSON.stringify(copies) });
      else deleteMachineKey(RUNTIME_KEY);
    },
    runtimeCopyComplete: async (layout) => runtimeCopyComplete(layout),
    materialiseRuntime: async (layout, groupSid) => materialiseRuntime(layout, groupSid, win32RuntimeAcl, rootLedger),
    // Only <root>\runtime\<hash>, with the root from %ProgramData% (a recorded path names no root of its own).
    removeRuntimeCopy: async (dir) => removeRuntimeCopy(dir, machineRuntimeRoot(), win32RuntimeAcl, rootLedger),
    runtimeCopyExists: async (dir) => fs.existsSync(dir),
    readMarker: async (): Promise<Marker | undefined> => {
      const version = getMachineValue(MARKER_KEY, 'Version', 'dword');
      if (version === undefined) return undefined;
      const s = (n: string) => String(getMachineValue(MARKER_KEY, n, 'string') ?? '');
      return {
        version: Number(version),
        groupSid: s('GroupSid'),
        offlineSid: s('OfflineSid'),
        onlineSid: s('OnlineSid'),
      };
    },
    writeMarker: async (m) =>
      setMachineValues(MARKER_KEY, {
        Version: m.version,
        GroupSid: m.groupSid,
        OfflineSid: m.offlineSid,
        OnlineSid: m.onlineSid,
      }),
    deleteMarker: async () => deleteMachineKey(MARKER_KEY),
  };
}

/** The runtime root's record in HKLM; an unreadable one throws (never read as "nothing recorded"). */
const rootLedger: RuntimeRootLedger = {
  read() {
    const v = getMachineValue(RUNTIME_ROOT_KEY, 'Record', 'string');
    if (v === undefined) return undefined;
    const r = JSON.parse(String(v)) as RuntimeRootRecord;
    if (typeof r?.root !== 'string' || !Array.isArray(r.created))
      throw new Error(`HKLM\\${RUNTIME_ROOT_KEY}\\Record is not readable`);
    return r;
  },
  write(r) {
    if (r) setMachineValues(RUNTIME_ROOT_KEY, { Record: JSON.stringify(r) });
    else deleteMachineKey(RUNTIME_ROOT_KEY);
  },
};

/** The rule ledger's names; an unreadable or malformed value throws (never read as "nothing created"). */
function createdRuleNames(): string[] {
  const v = getMachineValue(CREATED_RULES_KEY, 'Names', 'string');
  if (v === undefined) return [];
  const names: unknown = JSON.parse(String(v));
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))
    throw new Error(`HKLM\\${CREATED_RULES_KEY}\\Names is not a list of rule names`);
  return names;
}
