/**
 * How a backend makes its allowlist proxy (one per backend: the extension host's, the CLI's for a cold run; brokers
 * reuse their backend's), and the process-wide denial listeners (the extension's log channel). Tests may configure
 * the proxy (an injected resolver) before a backend first makes it.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { LINUX_SANDBOX_TMP } from '../policy/compile-linux';
import type { NetworkDenial, NetworkProxy, ProxyOptions } from './proxy';

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

/**
 * The proxy's code (its HTTP and SOCKS5 front ends, the resolver) is loaded here, on first use: a run without an
 * allowlist (every offline or online `agent-sandbox run`) never loads Node's http and dns modules.
 */
export function createProxy(stateDir: string): NetworkProxy {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NetworkProxy } = require('./proxy') as typeof import('./proxy');
  const { resolverFromEnv } = require('./resolver') as typeof import('./resolver');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const own = proxySocketDir(stateDir);
  return new NetworkProxy({
    ...(own
      ? { socketDir: own }
      : { socketDir: process.platform === 'linux' ? LINUX_SANDBOX_TMP : os.tmpdir(), gatewayPrefix: TEMP_PREFIX }),
    resolver: resolverFromEnv(),
    ...overrides,
    onDenial: (d) => listeners.forEach((f) => f(d)),
  });
}

/** The prefix of a gateway folder made directly in the temp folder (see proxySocketDir). */
export const TEMP_PREFIX = 'agent-sandbox-proxy-';

/**
 * Where gateways make their socket folders: a `proxy` folder in the state folder; undefined when that would make
 * socket paths longer than a Unix socket address takes (108 bytes). Then each gateway makes its folder right in
 * the temp folder (`agent-sandbox-proxy-` and a random suffix, 0700, removed when the gateway closes, so nothing
 * is left behind and no shared folder can be squatted by another user). On Linux that is /tmp, which every
 * sandbox replaces with its own: no sandbox sees another's gateway there, with no hiding mount to keep up.
 */
export function proxySocketDir(stateDir: string): string | undefined {
  const dir = path.join(stateDir, 'proxy');
  return Buffer.byteLength(dir) <= 80 ? dir : undefined;
}
