/**
 * Name resolution for the allowlist proxy. The proxy resolves every name itself (the sandbox has no DNS), then
 * judges the addresses. A resolver is injectable so tests can map names like `allowed.test` to local listeners.
 * Pinned names (`AGENT_SANDBOX_RESOLVE=allowed.test=127.0.0.1`, like curl's `--resolve`) are answered from the
 * pin and marked `pinned`: the person who started the proxy stated that address literally, so it is not a DNS
 * answer that could rebind. Every other name goes to the system resolver and is judged as DNS.
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { normalizeHost } from '../policy/domains';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
  /** True when the address came from a pin stated by whoever started the proxy, not from DNS. */
  pinned: boolean;
}

export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) => {
  const all = await dns.lookup(host, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4, pinned: false }));
};

/** Parses `name=addr[,name=addr...]` (an address may repeat a name for several addresses). Throws on bad input. */
export function parsePins(text: string): Map<string, string[]> {
  const pins = new Map<string, string[]>();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    const name = normalizeHost(part.slice(0, eq));
    const address = part.slice(eq + 1).replace(/^\[|\]$/g, '');
    if (eq <= 0 || !isIP(address)) throw new Error(`AGENT_SANDBOX_RESOLVE: "${part}" is not name=address.`);
    pins.set(name, [...(pins.get(name) ?? []), address]);
  }
  return pins;
}

/** Answers pinned names from `pins`, every other name from `fallback`. */
export function pinnedResolver(pins: Map<string, string[]>, fallback: Resolver = systemResolver): Resolver {
  return async (host) => {
    const pinned = pins.get(normalizeHost(host));
    if (!pinned) return fallback(host);
    return pinned.map((address) => ({ address, family: isIP(address) === 6 ? 6 : 4, pinned: true }));
  };
}

/**
 * Answers the verifier registers for its own one-off names (under `.verify.agent-sandbox.test`, with a random
 * label) for the length of one Verify run, so it can test the proxy against its own listeners without DNS. Every
 * proxy of this process consults them first.
 */
const temporary = new Map<string, ResolvedAddress[]>();

export function registerTemporaryAnswers(answers: Record<string, ResolvedAddress[]>): () => void {
  const names = Object.keys(answers).map(normalizeHost);
  if (names.some((n) => !n.endsWith('.verify.agent-sandbox.test')))
    throw new Error('temporary answers are for Verify names only');
  Object.entries(answers).forEach(([n, a]) => temporary.set(normalizeHost(n), a));
  return () => names.forEach((n) => temporary.delete(n));
}

export function withTemporaryAnswers(resolver: Resolver): Resolver {
  return async (host) => temporary.get(normalizeHost(host)) ?? resolver(host);
}

/** The resolver the CLI and the extension use: the system's, plus pins from `AGENT_SANDBOX_RESOLVE` if set. */
export function resolverFromEnv(env: NodeJS.ProcessEnv = process.env): Resolver {
  const text = env.AGENT_SANDBOX_RESOLVE;
  return text ? pinnedResolver(parsePins(text)) : systemResolver;
}
