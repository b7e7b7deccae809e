/**
 * How a backend makes its allowlist proxy (one per backend: the extension host's, the CLI's for a cold run; brokers
 * reuse their backend's), and the process-wide denial listeners (the extension's log channel). Tests may configure
 * the proxy (an injected resolver) before a backend first makes it.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { NetworkProxy, type NetworkDenial, type ProxyOptions } from './proxy';
import { resolverFromEnv } from './resolver';

let overrides: Partial<ProxyOptions> = {};
const listeners = new Set<(d: NetworkDenial) => void>();

/** Options for proxies made from now on (a resolver for tests). */
export function configureSharedProxy(o: Partial<ProxyOptions>): void {
  overrides = o;
}

/** Called for every refusal by any proxy of this process (the extension's log channel). Returns an unsubscribe function. */
export function onSharedProxyDenial(f: (d: NetworkDenial) => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

export function createProxy(stateDir: string): NetworkProxy {
  return new NetworkProxy({
    socketDir: proxySocketDir(stateDir),
    resolver: resolverFromEnv(),
    ...overrides,
    onDenial: (d) => listeners.forEach((f) => f(d)),
  });
}

/**
 * Where gateways make their socket folders: under the state folder, unless that makes socket paths longer than a
 * Unix socket address takes (108 bytes).
 */
export function proxySocketDir(stateDir: string): string {
  const dir = path.join(stateDir, 'proxy');
  return Buffer.byteLength(dir) <= 80
    ? dir
    : path.join(os.tmpdir(), `agent-sandbox-proxy-${process.getuid?.() ?? 'user'}`);
}
