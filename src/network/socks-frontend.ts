/**
 * The proxy's SOCKS5 side, on one gateway's Unix socket, with username/password authentication (RFC 1929) as the
 * credential and remote name resolution (ATYP domain name: the name reaches the proxy, which resolves it itself).
 * Protocol parsing is @pondwader/socks5-server's; only CONNECT is supported (no BIND, no UDP ASSOCIATE).
 * Must never connect before `gateway.admit` said yes.
 */
import * as net from 'node:net';
import { Socks5Server } from '@pondwader/socks5-server';
import { listen, type Admission, type FrontendGateway, type ListenAt, type Listening } from './http-frontend';

export function startSocksFrontend(gw: FrontendGateway, at: ListenAt): Promise<Listening> {
  const socks = new Socks5Server();
  // Any credential is taken at the greeting; it is checked with the request, where a refusal can name the host.
  socks.setAuthHandler(() => true);
  socks.setRulesetValidator(async (conn) => {
    const a = await gw.admit(conn.username, conn.password, conn.destAddress, conn.destPort);
    conn.metadata.admission = a;
    return a.ok;
  });
  socks.setConnectionHandler((conn, sendStatus) => {
    const a = conn.metadata.admission as Extract<Admission, { ok: true }>;
    conn.socket.on('error', () => undefined);
    const upstream = gw.proxy.connect(a, conn.destPort);
    upstream.setNoDelay();
    upstream.once('connect', () => {
      sendStatus('REQUEST_GRANTED');
      conn.socket.pipe(upstream).pipe(conn.socket);
    });
    upstream.once('error', (e: NodeJS.ErrnoException) => {
      if (upstream.remoteAddress) return void conn.socket.destroy();
      sendStatus(e.code === 'ECONNREFUSED' ? 'CONNECTION_REFUSED' : 'HOST_UNREACHABLE');
    });
    conn.socket.once('close', () => upstream.destroy());
  });
  const server = net.createServer((s) => {
    s.setNoDelay();
    s.on('error', () => undefined);
    // A greeting that offers no username/password cannot carry a credential: the library refuses it, and it is
    // recorded here as a bypass attempt (a client ignoring the proxy URL it was given, or another program).
    s.once('data', (greeting: Buffer) => {
      s.pause();
      s.unshift(greeting);
      const methods = greeting.subarray(2, 2 + (greeting[1] ?? 0));
      if (greeting[0] === 5 && !methods.includes(2)) void gw.admit(undefined, undefined, 'socks5', 0);
      socks._handleConnection(s);
    });
  });
  return listen(server, at);
}
