/**
 * The http and https modules' global agents through the proxy (HTTP forwarding; CONNECT for https), from
 * http-proxy-agent and https-proxy-agent, bundled on their own and loaded by the Node preload (preload.ts).
 */
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';

export function httpAgent(proxy: string): HttpProxyAgent<string> {
  return new HttpProxyAgent(proxy);
}

export function httpsAgent(proxy: string): HttpsProxyAgent<string> {
  return new HttpsProxyAgent(proxy);
}
