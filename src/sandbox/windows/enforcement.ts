/**
 * What each Windows mode enforces for a plan, for the spawned process's report and for previews. Unelevated: writes
 * only (a write-restricted token and ACLs), the network by environment when offline. Elevated: the sandbox account
 * (reads and writes) and, offline, the firewall rule. Under Wine: nothing, since Wine implements none of it.
 */
import type { Plan, Win32Plan } from '../../policy/plan';
import { SANDBOX_USERS } from '../../policy/compile-win32';
import type { Enforcement } from '../types';
import { firewallNote, type FirewallVerdict } from './firewall-state';

export const WINE_NOTE =
  'Running under Wine: restricted tokens, file ACLs and the network are NOT enforced (plumbing only).';

export function unelevatedEnforcement(p: Win32Plan, wine: boolean): Enforcement {
  if (wine) return { filesystem: 'none', network: 'none', notes: [WINE_NOTE] };
  return {
    filesystem: 'partial',
    network:
      p.networkEnforcement === 'firewall' ? 'enforced' : p.networkEnforcement === 'advisory' ? 'advisory' : 'none',
    notes: [
      'Writes are limited by a write-restricted token and ACLs; reads are not restricted in unelevated mode.',
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
  const offline = plan.network === 'offline';
  const blocked = offline && (firewall === undefined || firewall.enforced);
  // An allowlist command would run as the offline account, whose firewall rules the allowlist scopes; not run yet.
  const account = SANDBOX_USERS[plan.network === 'online' ? 'online' : 'offline'];
  return {
    filesystem: 'enforced',
    network: blocked ? 'enforced' : 'none',
    notes: [
      `Commands run as ${account}: writes need the workspace capability; reads are limited only to what ` +
        'that account can read, which includes whatever Users, Authenticated Users or Everyone may read (other folders directly ' +
        'under C:\\, other drives, ProgramData, C:\\Users\\Public).',
      ...(offline && firewall && !firewall.enforced ? [firewallNote(firewall)] : []),
      ...(blocked
        ? [
            'Outbound connections made by that account are blocked by a Windows Firewall rule. Not covered: DNS lookups and ' +
              "SMB (\\\\host\\share) paths, which Windows services perform on the account's behalf; loopback is blocked by the rule " +
              'but not yet proven on real Windows (run Verify).',
          ]
        : []),
      ...(plan.network === 'allowlist'
        ? ['The network allowlist is not run by the elevated sandbox yet: a command in this mode is refused.']
        : []),
    ],
  };
}
