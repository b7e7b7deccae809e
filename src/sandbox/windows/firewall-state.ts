/**
 * Whether a Windows Firewall rule can block anything on this machine right now, decided from facts (pure): the
 * firewall is on for every active profile (a third-party firewall registered with Security Center turns it off),
 * local rules are applied (no Group Policy override, the same for every profile; Group Policy's own registry
 * settings agree), and its services run. Also the
 * facts read from the machine. Must never call the network "enforced" when any fact is off or unknown.
 */
import { FirewallPolicy, FwModifyState, FwProfile } from '../../../native-bindings/win32/firewall';
import { serviceRunning } from '../../../native-bindings/win32/services';
import { getMachineValue } from '../../../native-bindings/win32/registry';

export interface FirewallFacts {
  /** NET_FW_PROFILE_TYPE2 bits of the active profiles; undefined when unreadable. */
  currentProfiles?: number;
  /** FirewallEnabled per active profile bit; a missing entry is unknown. */
  enabled: Record<number, boolean | undefined>;
  /** NET_FW_MODIFY_STATE, or 'per-profile' (S_FALSE: it differs between profiles); undefined when unreadable. */
  modifyState?: number | 'per-profile';
  /** The Windows Defender Firewall service (mpssvc) and the Base Filtering Engine (BFE); undefined when unreadable. */
  services: { mpssvc?: boolean; bfe?: boolean };
  /**
   * What Group Policy sets per profile bit (HKLM\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\<Profile>Profile):
   * `AllowLocalPolicyMerge` 0 means local rules, ours included, are ignored; `EnableFirewall` 0 turns it off. A
   * second source next to the COM state, read the same way on every machine (absent: no policy). `unreadable` lists
   * the values whose read failed for any reason but "not found": those make the verdict unknown, never "no policy".
   */
  groupPolicy?: Record<number, { localMerge?: boolean; enabled?: boolean; unreadable?: string[] } | undefined>;
}

export interface FirewallVerdict {
  enforced: boolean;
  /** Why not, each with what to do; empty when enforced. */
  reasons: string[];
}

const PROFILE_NAMES: [number, string][] = [
  [FwProfile.DOMAIN, 'Domain'],
  [FwProfile.PRIVATE, 'Private'],
  [FwProfile.PUBLIC, 'Public'],
];

export function evaluateFirewall(f: FirewallFacts): FirewallVerdict {
  const reasons: string[] = [];
  if (f.services.mpssvc !== true) {
    reasons.push(
      `the Windows Defender Firewall service (mpssvc) is ${f.services.mpssvc === false ? 'not running' : 'in an unknown state'}`,
    );
  }
  if (f.services.bfe !== true) {
    reasons.push(
      `the Base Filtering Engine service (BFE) is ${f.services.bfe === false ? 'not running' : 'in an unknown state'}`,
    );
  }
  if (f.currentProfiles === undefined || f.currentProfiles === 0) {
    reasons.push('the active firewall profile could not be read');
  } else {
    for (const [bit, name] of PROFILE_NAMES) {
      if (!(f.currentProfiles & bit)) continue;
      const on = f.enabled[bit];
      if (on === false)
        reasons.push(
          `Windows Defender Firewall is off for the active ${name} profile (turned off, or replaced by another firewall)`,
        );
      else if (on === undefined)
        reasons.push(`whether Windows Defender Firewall is on for the active ${name} profile could not be read`);
    }
  }
  if (f.modifyState === undefined) reasons.push('whether local firewall rules apply could not be read');
  else if (f.modifyState === 'per-profile')
    reasons.push('local firewall rules apply to some profiles only (Group Policy differs per profile)');
  else if (f.modifyState === FwModifyState.GP_OVERRIDE)
    reasons.push('Group Policy overrides local firewall rules, ours included');
  for (const [bit, name] of PROFILE_NAMES) {
    if (!f.currentProfiles || !(f.currentProfiles & bit)) continue;
    const gp = f.groupPolicy?.[bit];
    if (gp?.unreadable?.length)
      reasons.push(
        `the Group Policy firewall settings of the active ${name} profile could not be read (${gp.unreadable.join(', ')})`,
      );
    if (gp?.localMerge === false && f.modifyState !== FwModifyState.GP_OVERRIDE)
      reasons.push(
        `Group Policy tells the active ${name} profile to ignore local firewall rules (AllowLocalPolicyMerge = 0)`,
      );
    if (gp?.enabled === false && f.enabled[bit] !== false)
      reasons.push(
        `Group Policy turns Windows Defender Firewall off for the active ${name} profile (EnableFirewall = 0)`,
      );
  }
  return { enforced: reasons.length === 0, reasons };
}

/** Where Group Policy stores the firewall's per-profile settings, by profile bit. */
export const FIREWALL_POLICY_KEYS: [number, string][] = [
  [FwProfile.DOMAIN, 'SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\DomainProfile'],
  [FwProfile.PRIVATE, 'SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\PrivateProfile'],
  [FwProfile.PUBLIC, 'SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\PublicProfile'],
];

function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/**
 * Group Policy's firewall values. `read` returns undefined only for a key or value that is not there (no policy);
 * any other failure (access denied, a value of the wrong type) is recorded as unreadable, which is not enforced.
 */
export function readGroupPolicy(
  read: (key: string, name: string) => number | undefined = (key, name) =>
    getMachineValue(key, name, 'dword') as number | undefined,
): NonNullable<FirewallFacts['groupPolicy']> {
  const out: NonNullable<FirewallFacts['groupPolicy']> = {};
  for (const [bit, key] of FIREWALL_POLICY_KEYS) {
    const unreadable: string[] = [];
    const dword = (name: string) => {
      try {
        const v = read(key, name);
        return v === undefined ? undefined : v !== 0;
      } catch (e) {
        unreadable.push(`${name}: ${(e as Error).message}`);
        return undefined;
      }
    };
    const localMerge = dword('AllowLocalPolicyMerge');
    const enabled = dword('EnableFirewall');
    out[bit] = {
      ...(localMerge !== undefined ? { localMerge } : {}),
      ...(enabled !== undefined ? { enabled } : {}),
      ...(unreadable.length ? { unreadable } : {}),
    };
  }
  return out;
}

/** Reads the facts (no elevation needed); anything unreadable stays undefined, which evaluates as not enforced. */
export function readFirewallFacts(): FirewallFacts {
  const services = { mpssvc: attempt(() => serviceRunning('mpssvc')), bfe: attempt(() => serviceRunning('BFE')) };
  const groupPolicy = readGroupPolicy();
  const policy = attempt(() => FirewallPolicy.open());
  if (!policy) return { enabled: {}, services, groupPolicy };
  try {
    const currentProfiles = attempt(() => policy.currentProfileTypes());
    const enabled: Record<number, boolean | undefined> = {};
    for (const [bit] of PROFILE_NAMES)
      if (currentProfiles && currentProfiles & bit) enabled[bit] = attempt(() => policy.firewallEnabled(bit));
    const modify = attempt(() => policy.localPolicyModify());
    const modifyState = modify === undefined ? undefined : modify.perProfile ? ('per-profile' as const) : modify.state;
    return {
      ...(currentProfiles !== undefined ? { currentProfiles } : {}),
      enabled,
      ...(modifyState !== undefined ? { modifyState } : {}),
      services,
      groupPolicy,
    };
  } finally {
    policy.close();
  }
}

/** One line for plans, status and results. */
export function firewallNote(v: FirewallVerdict): string {
  return v.enforced
    ? 'Windows Defender Firewall is on for every active profile and applies local rules.'
    : `The offline block is NOT enforced: ${v.reasons.join('; ')}. Turn Windows Defender Firewall on for every profile ` +
        '(or ask your administrator to allow local rules), then run Verify.';
}
