/**
 * The elevated backend's allowlist proxy: one gateway per backend on one of the loopback port pairs the offline
 * account's firewall block leaves open (WINDOWS_PROXY_PORTS), the first pair free. Must never listen anywhere
 * else: a port outside the pairs is blocked for the account, so commands could not reach it, and a pair taken by
 * another program is skipped, never shared.
 */
import type { NetworkProxy, ProxyGateway } from '../../../network/proxy';
import { proxyPortPair, WINDOWS_PROXY_PORTS } from '../../../policy/compile-win32';
import { SandboxError, SandboxErrorCode } from '../../../errors';

export async function openPinnedGateway(proxy: NetworkProxy, label: string): Promise<ProxyGateway> {
  const taken: string[] = [];
  for (let i = 0; i < WINDOWS_PROXY_PORTS.pairs; i++) {
    const { httpPort, socksPort } = proxyPortPair(i);
    try {
      return await proxy.openGateway(label, 'tcp', { http: httpPort, socks: socksPort });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') throw e;
      taken.push(`${httpPort}/${socksPort}`);
    }
  }
  throw new SandboxError(
    SandboxErrorCode.BackendUnavailable,
    `The allowlist proxy could not listen on any of the loopback port pairs the firewall leaves open (${taken.join(', ')} are in use); nothing was run.`,
    'Close other VS Code windows or agent-sandbox runs that use the allowlist, or find the program using those ports (netstat -ano), then try again.',
  );
}
