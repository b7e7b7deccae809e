/**
 * Domain rules for the `allowlist` network mode: parsing and checking `allowedDomains` / `deniedDomains` entries,
 * expanding named presets (`@npm`, `@github`, ...), and deciding whether a host:port may be reached. Pure.
 *
 * An entry is an exact host (`registry.npmjs.org`), a `*.suffix` wildcard (any name below the suffix, not the
 * suffix itself), an IP literal (`127.0.0.1`, `[::1]`) or `localhost`, each with an optional `:port` (absent means
 * every port). Deny wins over allow. An empty allowlist allows nothing. IP literals and `localhost` match only when
 * listed literally; a wildcard never matches an IP literal.
 * Must never allow a host that no entry names, and never treat a name as an address.
 */
import { isIP } from 'node:net';
import { canonicalAddress } from './addresses';

/** Named presets: the hosts the common package registries and forges need. Expanded in the plan. */
export const DOMAIN_PRESETS: Readonly<Record<string, readonly string[]>> = {
  '@npm': ['registry.npmjs.org', 'registry.yarnpkg.com', 'registry.npmjs.com'],
  '@pypi': ['pypi.org', 'files.pythonhosted.org'],
  '@crates': ['crates.io', 'index.crates.io', 'static.crates.io', 'static.rust-lang.org'],
  '@go': ['proxy.golang.org', 'sum.golang.org', 'index.golang.org'],
  '@github': [
    'github.com',
    'api.github.com',
    'codeload.github.com',
    'objects.githubusercontent.com',
    'raw.githubusercontent.com',
    'release-assets.githubusercontent.com',
  ],
};

export interface DomainRule {
  /** The entry as written (after preset expansion), for messages. */
  text: string;
  kind: 'exact' | 'wildcard' | 'ip';
  /** Lower-case host without a trailing dot; for `wildcard`, the suffix without `*.`; for `ip`, the bare address. */
  host: string;
  /** Undefined means every port. */
  port?: number;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Lower-cases a host and drops a trailing dot and IPv6 brackets. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** Splits `host[:port]` (IPv6 in brackets). Returns undefined when the shape is wrong. */
function splitHostPort(entry: string): { host: string; port?: number } | undefined {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (v6) return { host: v6[1], port: v6[2] === undefined ? undefined : Number(v6[2]) };
  if (isIP(entry) === 6) return { host: entry };
  const m = /^([^:]+)(?::(\d+))?$/.exec(entry);
  if (!m) return undefined;
  return { host: m[1], port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** Why an entry (not a preset) is refused, or undefined when it is valid. The message names the fix. */
export function domainProblem(entry: string): string | undefined {
  const e = entry.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(e)) {
    return `"${entry}" is a URL. Name the host only, like "${e.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0]}".`;
  }
  if (e.startsWith('@')) {
    return DOMAIN_PRESETS[e]
      ? undefined
      : `"${entry}" is not a known preset. Presets: ${Object.keys(DOMAIN_PRESETS).join(', ')}.`;
  }
  if (/[\s/]/.test(e)) return `"${entry}" has a space or a path. Name a host, like "example.org" or "*.example.org".`;
  const hp = splitHostPort(e);
  if (!hp) return `"${entry}" is not a host with an optional :port, like "example.org:443".`;
  if (hp.port !== undefined && !(hp.port >= 1 && hp.port <= 65535)) return `"${entry}": the port must be 1-65535.`;
  const host = normalizeHost(hp.host);
  if (isIP(host)) return undefined;
  if (host === '*' || host === '*.') return `"${entry}" would allow every host. Use network "online" instead.`;
  const wildcard = host.startsWith('*.');
  const name = wildcard ? host.slice(2) : host;
  const labels = name.split('.');
  if (name.includes('*')) return `"${entry}": "*" is allowed only as the whole first label, like "*.example.org".`;
  if (!labels.every((l) => LABEL.test(l))) return `"${entry}" is not a valid host name.`;
  if (wildcard && labels.length < 2) {
    return `"${entry}" would allow a whole top-level domain. Name the site, like "*.example.${labels[0]}".`;
  }
  return undefined;
}

/** Expands presets (deduplicated, in order). Assumes entries were validated. */
export function expandDomains(entries: readonly string[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    for (const x of DOMAIN_PRESETS[e.trim()] ?? [e.trim()]) if (!out.includes(x)) out.push(x);
  }
  return out;
}

/** Parses expanded, validated entries into rules. Throws on an invalid entry (callers validate first). */
export function parseDomainRules(entries: readonly string[]): DomainRule[] {
  return expandDomains(entries).map((text) => {
    const problem = domainProblem(text);
    if (problem) throw new Error(problem);
    const hp = splitHostPort(text)!;
    const host = normalizeHost(hp.host);
    if (isIP(host)) return { text, kind: 'ip', host: canonicalAddress(host), port: hp.port };
    if (host.startsWith('*.')) return { text, kind: 'wildcard', host: host.slice(2), port: hp.port };
    return { text, kind: 'exact', host, port: hp.port };
  });
}

/** True when `rule` covers `host:port` as asked for (a name or a literal address, never a resolved one). */
export function ruleMatches(rule: DomainRule, host: string, port: number): boolean {
  if (rule.port !== undefined && rule.port !== port) return false;
  const h = hostKey(host);
  switch (rule.kind) {
    case 'ip':
    case 'exact':
      return rule.host === h;
    case 'wildcard':
      return !isIP(h) && h.endsWith('.' + rule.host);
  }
}

export type DomainVerdict =
  { ok: true; rule: DomainRule } | { ok: false; reason: 'denied' | 'not-allowed'; rule?: DomainRule };

/** Deny wins; then an allow rule must match. */
export function decideDomain(allowed: DomainRule[], denied: DomainRule[], host: string, port: number): DomainVerdict {
  const d = denied.find((r) => ruleMatches(r, host, port));
  if (d) return { ok: false, reason: 'denied', rule: d };
  const a = allowed.find((r) => ruleMatches(r, host, port));
  return a ? { ok: true, rule: a } : { ok: false, reason: 'not-allowed' };
}

/** A host as compared with rules: lower case, and addresses in canonical form. */
function hostKey(host: string): string {
  const h = normalizeHost(host);
  return isIP(h) ? canonicalAddress(h) : h;
}

/** True when an address reached through a name was also allowed literally (an `ip` rule for it and the port). */
export function addressAllowedLiterally(allowed: DomainRule[], address: string, port: number): boolean {
  const a = hostKey(address);
  return allowed.some((r) => r.kind === 'ip' && r.host === a && (r.port === undefined || r.port === port));
}
