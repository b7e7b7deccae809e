/**
 * The environment that points a sandboxed command's clients at the allowlist proxy, with this command's own
 * credential in the proxy URLs. Only environment: never a config file, never system, WinINET or git-global
 * settings. Pure.
 */

/** Where the proxy is, as the sandbox sees it. */
export interface ProxyEndpoint {
  host: string;
  httpPort: number;
  socksPort: number;
}

/** Linux: the relay inside the sandbox's own network namespace. */
export const LINUX_RELAY: ProxyEndpoint = { host: '127.0.0.1', httpPort: 3128, socksPort: 1080 };

export function endpointUrls(
  e: ProxyEndpoint,
  cred?: { user: string; password: string },
): { http: string; socks: string } {
  const auth = cred ? `${encodeURIComponent(cred.user)}:${encodeURIComponent(cred.password)}@` : '';
  return { http: `http://${auth}${e.host}:${e.httpPort}`, socks: `socks5h://${auth}${e.host}:${e.socksPort}` };
}

/**
 * Variables for the common clients: curl, wget, Python, Go, Rust and most others read `HTTP(S)_PROXY` /
 * `ALL_PROXY` (upper and lower case on Linux); npm/yarn/pnpm, pip and cargo have their own; git gets `http.proxy`
 * through `GIT_CONFIG_*`; Node 24+ applies the variables to fetch and http with `NODE_USE_ENV_PROXY`.
 * `NO_PROXY` is empty: nothing, not even loopback, goes around the proxy.
 */
export function proxyEnv(
  e: ProxyEndpoint,
  cred: { user: string; password: string },
  platform: 'linux' | 'win32',
): Record<string, string> {
  const { http, socks } = endpointUrls(e, cred);
  const env: Record<string, string> = {
    HTTP_PROXY: http,
    HTTPS_PROXY: http,
    ALL_PROXY: socks,
    NO_PROXY: '',
    npm_config_proxy: http,
    npm_config_https_proxy: http,
    npm_config_noproxy: '',
    YARN_HTTP_PROXY: http,
    YARN_HTTPS_PROXY: http,
    PIP_PROXY: http,
    CARGO_HTTP_PROXY: http,
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.proxy',
    GIT_CONFIG_VALUE_0: http,
    NODE_USE_ENV_PROXY: '1',
  };
  // Windows variables are case-insensitive: one spelling is all there is.
  if (platform === 'linux') Object.assign(env, { http_proxy: http, https_proxy: http, all_proxy: socks, no_proxy: '' });
  return env;
}
