/**
 * undici's EnvHttpProxyAgent for fetch() (it reads HTTP(S)_PROXY and NO_PROXY itself), bundled on its own
 * (undici is large) and loaded by the Node preload (preload.ts) only when a program first uses fetch.
 */
import { EnvHttpProxyAgent } from 'undici';

export function fetchDispatcher(): EnvHttpProxyAgent {
  return new EnvHttpProxyAgent();
}
