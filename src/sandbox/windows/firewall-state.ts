/**
 * Whether a Windows Firewall rule can block anything on this machine right now, decided from facts (pure): the
 * firewall is on for every active profile (a third-party firewall registered with Security Center turns it off),
 * local rules are applied (no Group Policy override, the same for every profile), and its services run. Also the
 * facts read from the machine. Must never call the network "enforced" when any fact is off or unknown.
 */
import { FirewallPolicy, FwModifyState, FwProfile } from '../../../native-bindings/win32/firewall';
import { serviceRunning } from '../../../native-bindings/win32/services';

export interface FirewallFacts {
  /** NET_FW_PROFILE_TYPE2 bits of the active profiles; undefined when unreadable. */
  currentProfiles?: number;
  /** FirewallEnabled per active profile bit; a missing entry is unknown. */
  enabled: Record<number, boolean | undefined>;
  /** NET_FW_MODIFY_STATE, or 'per-profile' (S_FALSE: it differs between profiles); undefined when unreadable. */
  modifyState?: number | 'per-profile';
  /** The Windows Defender Firewall service (mpssvc) and the Base Filtering Engine (BFE); undefined when unreadable. */
  services: { mpssvc?: boolean; bfe?: boolean };
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
  return { enforced: reasons.length === 0, reasons };
}

function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** Reads the facts (no elevation needed); anything unreadable stays undefined, which evaluates as not enforced. */
export function readFirewallFacts(): FirewallFacts {
  const services = { mpssvc: attempt(() => serviceRunning('mpssvc')), bfe: attempt(() => serviceRunning('BFE')) };
  const policy = attempt(() => FirewallPolicy.open());
  if (!policy) return { enabled: {}, services };
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
