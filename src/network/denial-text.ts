/**
 * Words for refused connections, shared by the CLI, the tool result and the VS Code log: one line per blocked
 * host, saying why and the exact grant that would allow it (when a grant can). Pure.
 */
import type { NetworkDenial } from './proxy';

const REASON: Record<NetworkDenial['reason'], string> = {
  'not-allowed': 'not in the allowlist',
  denied: 'denied',
  'private-address': 'private address',
  'no-credential': 'bypass attempt',
};

/** One entry per host:port and reason, in order of first refusal, with how many times it was refused. */
export function uniqueDenials(all: NetworkDenial[]): (NetworkDenial & { count: number })[] {
  const out = new Map<string, NetworkDenial & { count: number }>();
  for (const d of all) {
    const key = `${d.host}:${d.port}:${d.reason}`;
    const seen = out.get(key);
    if (seen) seen.count++;
    else out.set(key, { ...d, count: 1 });
  }
  return [...out.values()];
}

/** `blocked example.org:443 — not in the allowlist; allow it with --allow-domain example.org` (grantFlag varies). */
export function denialLine(d: NetworkDenial, grantHint: (grant: string) => string): string {
  const target = d.reason === 'no-credential' ? 'a connection' : `${d.host}:${d.port}`;
  const what = d.reason === 'not-allowed' ? REASON[d.reason] : `${REASON[d.reason]}: ${d.message}`;
  const fix = d.grant
    ? `; allow it with ${grantHint(d.grant)}`
    : d.reason === 'denied'
      ? '; deniedDomains wins over every grant'
      : '';
  return `blocked ${target} — ${what}${fix}`;
}
