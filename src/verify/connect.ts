/**
 * One connection attempt, shared by the probe (inside the sandbox) and the verifier's self-tests (outside): connect
 * over TCP or to a Unix socket, send a nonce line, and wait for the listener's answer. Node imports only, since the
 * probe bundle must run on its own.
 */
import * as net from 'node:net';

/** The longest pathname a Unix socket address holds (108 bytes on Linux, with the terminating NUL). */
export const MAX_SOCKET_PATH = 107;

export type SendResult = { ok: true; reply: string } | { ok: false; timedOut: boolean; error?: NodeJS.ErrnoException };

/**
 * Sends `nonce` and a newline, and resolves with the first reply, or with the error or a timeout. A Unix socket
 * path Node would silently shorten is refused (PATH_TOO_LONG) rather than connected to: that would be another place.
 */
export function sendNonce(to: net.NetConnectOpts, nonce: string, timeoutMs: number): Promise<SendResult> {
  if ('path' in to && typeof to.path === 'string' && Buffer.byteLength(to.path) > MAX_SOCKET_PATH) {
    const error: NodeJS.ErrnoException = new Error(`${to.path} is too long for a Unix socket address`);
    error.code = 'PATH_TOO_LONG';
    return Promise.resolve({ ok: false, timedOut: false, error });
  }
  return new Promise((resolve) => {
    const sock = net.connect(to);
    const done = (r: SendResult) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, timedOut: true }), timeoutMs);
    sock.on('connect', () => sock.write(`${nonce}\n`));
    sock.on('data', (d) => done({ ok: true, reply: d.toString('utf8') }));
    sock.on('error', (error) => done({ ok: false, timedOut: false, error }));
  });
}
