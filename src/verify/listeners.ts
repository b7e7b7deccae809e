/**
 * The verifier's network endpoints outside the sandbox: TCP listeners that record which probe nonces reached them,
 * and a tiny DNS resolver that records which names were asked. Each is owned by a `Listeners` object whose
 * close() is idempotent. They answer only the verifier's own nonces and never forward anything.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as os from 'node:os';
import { answerA, questionName } from './dns-wire';
import { MAX_SOCKET_PATH, sendNonce } from './connect';

/** The address the verifier's resolver answers with (TEST-NET-1, never routed). */
export const DNS_ANSWER = '192.0.2.1';

export interface TcpEndpoint {
  host: string;
  port: number;
}

export class Listeners {
  /** Nonces received over TCP, keyed by listener host. */
  readonly tcpSeen = new Map<string, Set<string>>();
  /** Names asked of the resolver. */
  readonly dnsSeen = new Set<string>();
  /** Nonces received on the Unix socket. */
  readonly unixSeen = new Set<string>();
  private readonly servers: net.Server[] = [];
  private udp?: dgram.Socket;
  private closed = false;

  async listenTcp(host: string): Promise<TcpEndpoint> {
    const seen = new Set<string>();
    this.tcpSeen.set(host, seen);
    const server = await this.listen(seen, { host, port: 0 });
    return { host, port: (server.address() as net.AddressInfo).port };
  }

  /** A pathname Unix socket listener (like a session bus or an agent) at `socketPath`. */
  async listenUnix(socketPath: string): Promise<{ path: string }> {
    // Node would silently shorten a longer path and listen somewhere else
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) throw new Error(`${socketPath} is too long for a Unix socket`);
    await this.listen(this.unixSeen, { path: socketPath });
    return { path: socketPath };
  }

  /** A server that records each nonce line it receives and answers "ack". */
  private async listen(seen: Set<string>, at: net.ListenOptions): Promise<net.Server> {
    const server = net.createServer((sock) => {
      sock.on('error', () => undefined);
      sock.setEncoding('utf8');
      let buf = '';
      sock.on('data', (d: string) => {
        buf += d;
        if (!buf.includes('\n')) return;
        seen.add(buf.trim());
        sock.end('ack\n');
      });
    });
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, () => resolve());
    });
    return server;
  }

  async listenDns(host: string): Promise<TcpEndpoint> {
    const udp = dgram.createSocket('udp4');
    this.udp = udp;
    udp.on('message', (msg, rinfo) => {
      const name = questionName(msg);
      if (name !== undefined) this.dnsSeen.add(name);
      const reply = answerA(msg, DNS_ANSWER);
      if (reply) udp.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, host, () => resolve());
    });
    return { host, port: udp.address().port };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.servers) s.close();
    this.udp?.close();
  }
}

/** The first non-internal IPv4 address of this machine, if any (a LAN address the sandbox must not reach). */
export function nonLoopbackIpv4(): string | undefined {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return undefined;
}

/** Connects from outside the sandbox to prove an endpoint works, so a failed probe means "blocked", not "broken". */
export async function selfTestEndpoint(ep: TcpEndpoint | { path: string }, nonce: string): Promise<boolean> {
  return (await sendNonce(ep, nonce, 3000)).ok;
}
