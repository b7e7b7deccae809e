/**
 * What each Windows mode enforces for a plan, for the spawned process's report and for previews. Unelevated: writes
 * only (a write-restricted token and ACLs), the network by environment when offline. Elevated: the sandbox account
 * (reads and writes) and, offline, the firewall rule. Under Wine: nothing, since Wine implements none of it.
 */
import type { Plan, Win32Plan } from '../../policy/plan';
import { SANDBOX_USERS } from '../../policy/compile-win32';
import type { Enforcement } from '../types';

export const WINE_NOTE = 'Running under Wine: restricted tokens, file ACLs and the network are NOT enforced (plumbing only).';

export function unelevatedEnforcement(p: Win32Plan, wine: boolean): Enforcement {
  if (wine) return { filesystem: 'none', network: 'none', notes: [WINE_NOTE] };
  return {
    filesystem: 'partial',
    network: p.networkEnforcement === 'firewall' ? 'enforced' : p.networkEnforcement === 'advisory' ? 'advisory' : 'none',
    notes: ['Writes are limited by a write-restricted token and ACLs; reads are not restricted in unelevated mode.',
      ...(p.networkEnforcement === 'advisory' ? ['Offline is advisory only: proxy variables point nowhere and ssh/scp are stubbed.'] : [])],
  };
}

export function elevatedEnforcement(plan: Plan, wine: boolean): Enforcement {
  if (wine) return { filesystem: 'none', network: 'none', notes: ['Running under Wine: accounts, ACLs and the firewall are NOT enforced.'] };
  const network = plan.network === 'offline' ? 'enforced' : 'none';
  return { filesystem: 'enforced', network, notes: [
    `Commands run as ${SANDBOX_USERS[plan.network]}: reads outside what the sandbox group was granted are denied by ` +
      'Windows, writes also need the workspace capability.',
    ...(plan.network === 'offline' ? ['Outbound traffic (loopback included) is blocked by a Windows Firewall rule for that account.'] : []),
  ] };
}
