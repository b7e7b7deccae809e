/**
 * Preloaded into every Node process of an allowlist sandbox (`NODE_OPTIONS=--require <dist>/node-proxy.js`, from
 * the sealed, read-only bundle folder), so Node's own clients go through the proxy on Node versions that ignore
 * `NODE_USE_ENV_PROXY`: fetch() before 24.0 (22.21 on the 22 line), http/https before 24.5 (22.21). Newer Node does
 * it natively and this does nothing. It only helps clients reach the proxy; the sandbox's network namespace is
 * what keeps them from going around it. Must stay tiny and load nothing until a request is made (every `node`
 * started in the sandbox pays for it), and must never throw: a broken preload would stop every Node program.
 */
import http from 'node:http';
import https from 'node:https';
import * as path from 'node:path';
import type * as FetchAgent from './fetch-agent';
import type * as HttpAgents from './http-agents';

/** Which of Node's clients honour NODE_USE_ENV_PROXY natively on this version. */
export function nativeEnvProxy(version: string): { fetch: boolean; http: boolean } {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
  const both = major > 24 || (major === 24 && minor >= 5) || (major === 22 && minor >= 21);
  return { fetch: both || major === 24, http: both };
}

/** A bundle beside this one. A computed path: esbuild must leave these requires alone (they are bundles of their own). */
function sibling<T>(name: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(__dirname, name)) as T;
}

/** undici's global dispatcher slot, read by Node's built-in fetch. */
const DISPATCHER = Symbol.for('undici.globalDispatcher.1');

/**
 * fetch(): the global dispatcher becomes undici's EnvHttpProxyAgent, made when fetch first asks for it. Set
 * before Node's undici loads, so undici keeps it; a program's own setGlobalDispatcher() still replaces it.
 */
function proxyFetch(): void {
  if (Object.getOwnPropertyDescriptor(globalThis, DISPATCHER)) return;
  const settle = (value: unknown) =>
    Object.defineProperty(globalThis, DISPATCHER, { value, writable: true, enumerable: false, configurable: false });
  let loading = false;
  Object.defineProperty(globalThis, DISPATCHER, {
    configurable: true,
    enumerable: false,
    get() {
      // The npm undici we load reads the slot as it loads and fills it with a direct Agent when it is undefined.
      if (loading) return null;
      loading = true;
      const d = sibling<typeof FetchAgent>('node-proxy-fetch.js').fetchDispatcher();
      settle(d);
      return d;
    },
    set: settle,
  });
}

/**
 * The global agent of `http` or `https`: an agent of the module's own class (so requests see the right protocol
 * and port) that makes the proxy agent on the first request and hands every request to it, except a request
 * addressed to the proxy itself: a client that speaks to the proxy on its own (CONNECT, or an absolute URL) goes
 * there directly, not through the proxy a second time.
 */
function lazyAgent<A extends http.Agent>(base: new () => A, proxy: string, make: () => http.Agent): A {
  type Hands = { addRequest(req: unknown, opts: { host?: string; hostname?: string; port?: number | string }): void };
  let real: http.Agent | undefined;
  const agent = new base();
  const direct = (agent as unknown as Hands).addRequest.bind(agent);
  const p = new URL(proxy);
  const proxyPort = String(p.port || (p.protocol === 'https:' ? 443 : 80));
  return Object.assign(agent, {
    addRequest: (req: unknown, opts: Parameters<Hands['addRequest']>[1]) =>
      (opts.hostname ?? opts.host) === p.hostname && String(opts.port) === proxyPort
        ? direct(req, opts)
        : ((real ??= make()) as unknown as Hands).addRequest(req, opts),
    destroy: () => real?.destroy(),
  });
}

/** http/https: the global agents tunnel through the proxy (HTTP forwarding, and CONNECT for https). */
function proxyHttp(env: NodeJS.ProcessEnv): void {
  const httpProxy = env.http_proxy || env.HTTP_PROXY;
  const httpsProxy = env.https_proxy || env.HTTPS_PROXY;
  const agents = () => sibling<typeof HttpAgents>('node-proxy-http.js');
  if (httpProxy) http.globalAgent = lazyAgent(http.Agent, httpProxy, () => agents().httpAgent(httpProxy));
  if (httpsProxy) https.globalAgent = lazyAgent(https.Agent, httpsProxy, () => agents().httpsAgent(httpsProxy));
}

export function install(env: NodeJS.ProcessEnv = process.env, version = process.versions.node): void {
  if (env.NODE_USE_ENV_PROXY !== '1') return;
  const native = nativeEnvProxy(version);
  if (!native.fetch) proxyFetch();
  if (!native.http) proxyHttp(env);
}

try {
  install();
} catch (e) {
  process.stderr.write(`agent-sandbox: Node's proxy preload failed (${(e as Error).message}); continuing without it\n`);
}
