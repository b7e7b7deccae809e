/**
 * What each Windows mode enforces for a plan, for the spawned process's report and for previews. Unelevated: writes
 * only (a write-restricted token and ACLs), the network by environment when offline. Elevated: the sandbox account
 * (reads and writes) and, offline or allowlist, the firewall rules. Under Wine: nothing, since Wine implements none of it.
 */
import type { Plan, Win32Plan } from '../../policy/plan';
import { ON_BEHALF_GAP, SANDBOX_USERS } from '../../policy/compile-win32';
import type { Enforcement } from '../types';
import { firewallNote, type FirewallVerdict } from './firewall-state';

export const WINE_NOTE =
  'Running under Wine: restricted tokens, file ACLs and the network are NOT enforced (plumbing only).';

/**
 * Review §3.14: where ACLs do not decide. An SMB server judges a write by the developer's own credentials (it never
 * sees restricting SIDs), and FAT/exFAT volumes have no ACLs at all. A writable folder on such a volume is refused
 * at preparation (./volumes) unless the user accepts it; writes elsewhere on one are not stopped.
 */
export const UNELEVATED_SHARES_NOTE =
  'Not enforced in unelevated mode: writes to network shares (\\\\server\\share, mapped drives), which the server ' +
  'checks against your own credentials, and to FAT/exFAT volumes (USB sticks, SD cards), which have no permissions.';

/** FAT/exFAT have no permissions in any mode; the elevated account's SMB access is its own (no shares of yours). */
export const ELEVATED_FAT_NOTE =
  'Not enforced: writes to FAT/exFAT volumes (USB sticks, SD cards), which have no permissions; network shares see ' +
  "the sandbox account's own credentials, not yours.";

export function unelevatedEnforcement(p: Win32Plan, wine: boolean): Enforcement {
  if (wine) return { filesystem: 'none', network: 'none', notes: [WINE_NOTE] };
  return {
    filesystem: 'partial',
    network:
      p.networkEnforcement === 'firewall' ? 'enforced' : p.networkEnforcement === 'advisory' ? 'advisory' : 'none',
    notes: [
      'Writes are limited by a write-restricted token and ACLs; reads are not restricted in unelevated mode.',
      UNELEVATED_SHARES_NOTE,
      ...(p.networkEnforcement === 'advisory'
        ? [
            p.network === 'allowlist'
              ? 'The network allowlist is advisory only: clients that honour the proxy variables are filtered; nothing stops the others.'
              : 'Offline is advisory only: proxy variables point nowhere and ssh/scp are stubbed.',
          ]
        : []),
    ],
  };
}

/**
 * `firewall`: the firewall's state as last read (when the offline runner started); undefined before any read, for
 * previews, where offline is described as what setup configured, not as checked.
 */
export function elevatedEnforcement(plan: Plan, wine: boolean, firewall?: FirewallVerdict): Enforcement {
  if (wine)
    return {
      filesystem: 'none',
      network: 'none',
      notes: ['Running under Wine: accounts, ACLs and the firewall are NOT enforced.'],
    };
  // Offline and allowlist both run as the offline account, whose firewall rules block all but the proxy's ports.
  const blocking = plan.network !== 'online';
  const blocked = blocking && (firewall === undefined || firewall.enforced);
  const account = SANDBOX_USERS[blocking ? 'offline' : 'online'];
  return {
    filesystem: 'enforced',
    network: blocked ? 'enforced' : 'none',
    notes: [
      `Commands run as ${account}: writes need the workspace capability; reads are limited only to what ` +
        'that account can read, which includes whatever Users, Authenticated Users or Everyone may read (other folders directly ' +
        'under C:\\, other drives, ProgramData, C:\\Users\\Public).',
      ELEVATED_FAT_NOTE,
      ...(blocking && firewall && !firewall.enforced ? [firewallNote(firewall)] : []),
      ...(blocking && !firewall
        ? [
            'The firewall has not been checked yet: this describes what setup configured. Its state is read when the ' +
              'offline runner starts, and a run reports it.',
          ]
        : []),
      ...(blocked
        ? [
            plan.network === 'allowlist'
              ? 'Outbound connections made by that account are blocked by Windows Firewall rules except TCP to the ' +
                "allowlist proxy's loopback ports; the proxy admits only this command's credential and allowed names."
              : 'Outbound connections made by that account are blocked by Windows Firewall rules (loopback too, except ' +
                "the allowlist proxy's ports, which refuse requests without a command's credential).",
            ON_BEHALF_GAP,
            'Loopback and the proxy-only scope are not yet proven on real Windows: run Verify.',
          ]
        : []),
    ],
  };
}
