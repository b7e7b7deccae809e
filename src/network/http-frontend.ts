/**
 * The proxy's HTTP side, on one gateway's Unix socket: `CONNECT host:port` tunnels (no TLS interception) and
 * plain-HTTP forwarding of absolute `http://` URLs. The credential is the `Proxy-Authorization: Basic` header
 * (curl, npm, pip, git and Node clients send it from the proxy URL's user and password).
 * Must never connect before `gateway.admit` said yes.
 */
import * as http from 'node:http';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';

/** The proxy's answer for one connection: the address to connect to, or why not. */
export type Admission =
  | { ok: true; address: string; family: 4 | 6 }
  | { ok: false; kind: 'auth' | 'refused' | 'unreachable'; message: string };

/** What a front end needs from its gateway (ProxyGateway in ./proxy), so the front ends do not import the proxy. */
export interface FrontendGateway {
  admit(user: string | undefined, password: string | undefined, host: string, port: number): Promise<Admission>;
  readonly proxy: {
    connect(a: Extract<Admission, { ok: true }>, port: number): net.Socket;
    readonly connectTimeoutMs: number;
  };
}

/** Headers that concern this hop only and are not forwarded. */
const HOP_BY_HOP = ['connection', 'proxy-connection', 'proxy-authorization', 'keep-alive', 'te', 'trailer', 'upgrade'];

function credential(req: http.IncomingMessage): { user?: string; password?: string } {
  const m = /^Basic\s+(\S+)/i.exec(req.headers['proxy-authorization'] ?? '');
  if (!m) return {};
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon === -1 ? {} : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function refusal(
  a: Extract<Admission, { ok: false }>,
  host: string,
  port: number,
): { status: number; head: string; body: string } {
  const status = a.kind === 'auth' ? 407 : a.kind === 'refused' ? 403 : 502;
  const head = a.kind === 'auth' ? 'Proxy-Authenticate: Basic realm="agent-sandbox"\r\n' : '';
  return { status, head, body: `agent-sandbox: blocked ${host}:${port}: ${a.message}\n` };
}

function splitTarget(target: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
  return m ? { host: m[1], port: Number(m[2]) } : undefined;
}

async function onConnect(gw: FrontendGateway, req: http.IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
  client.on('error', () => undefined);
  const t = splitTarget(req.url ?? '');
  if (!t) {
    client.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    return;
  }
  const { user, password } = credential(req);
  const a = await gw.admit(user, password, t.host, t.port);
  if (!a.ok) {
    const r = refusal(a, t.host, t.port);
    client.end(
      `HTTP/1.1 ${r.status} ${http.STATUS_CODES[r.status]}\r\n${r.head}Content-Type: text/plain\r\n` +
        `Content-Length: ${Buffer.byteLength(r.body)}\r\nConnection: close\r\n\r\n${r.body}`,
    );
    return;
  }
  const upstream = gw.proxy.connect(a, t.port);
  upstream.once('connect', () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    upstream.pipe(client).pipe(upstream);
  });
  upstream.once('error', (e: NodeJS.ErrnoException) => {
    if (upstream.connecting || !upstream.remoteAddress) {
      client.end(
        `HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\nagent-sandbox: ${t.host}:${t.port}: ${e.code ?? e.message}\n`,
      );
    } else client.destroy();
  });
  client.once('close', () => upstream.destroy());
}

async function onRequest(gw: FrontendGateway, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '');
  } catch {
    res.writeHead(400).end('agent-sandbox proxy: send an absolute http:// URL, or CONNECT for https.\n');
    return;
  }
  if (url.protocol !== 'http:') {
    res.writeHead(400).end(`agent-sandbox proxy: ${url.protocol} is forwarded only through CONNECT.\n`);
    return;
  }
  const port = url.port ? Number(url.port) : 80;
  const { user, password } = credential(req);
  const a = await gw.admit(user, password, url.hostname, port);
  if (!a.ok) {
    const r = refusal(a, url.hostname, port);
    res.writeHead(r.status, a.kind === 'auth' ? { 'Proxy-Authenticate': 'Basic realm="agent-sandbox"' } : {});
    res.end(r.body);
    return;
  }
  const headers = { ...req.headers };
  for (const h of HOP_BY_HOP) delete headers[h];
  const upstream = http.request({
    host: a.address,
    family: a.family,
    port,
    method: req.method,
    path: url.pathname + url.search,
    headers,
    setHost: false,
    agent: false,
    timeout: gw.proxy.connectTimeoutMs,
  });
  upstream.once('response', (up) => {
    res.writeHead(up.statusCode ?? 502, up.statusMessage, up.headers);
    up.pipe(res);
  });
  upstream.once('timeout', () => upstream.destroy(new Error('timed out')));
  upstream.once('error', (e: NodeJS.ErrnoException) => {
    if (!res.headersSent) res.writeHead(502).end(`agent-sandbox: ${url.host}: ${e.code ?? e.message}\n`);
    else res.destroy();
  });
  req.pipe(upstream);
}

/** Listens on `at`; resolves with a function that stops listening and drops open connections. */
export function startHttpFrontend(gw: FrontendGateway, at: ListenAt): Promise<Listening> {
  const server = http.createServer((req, res) => void onRequest(gw, req, res));
  server.on(
    'connect',
    (req: http.IncomingMessage, client: Duplex, head: Buffer) => void onConnect(gw, req, client, head),
  );
  return listen(server, at);
}

/** A Unix socket path, or (Windows, where nothing can be bound into the sandbox) a loopback TCP address. */
export type ListenAt = string | { host: '127.0.0.1'; port: 0 };

export interface Listening {
  /** The TCP port, when listening on TCP. */
  port?: number;
  close(): Promise<void>;
}

export function listen(server: net.Server, at: ListenAt): Promise<Listening> {
  const open = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at, () => {
      server.off('error', reject);
      const address = server.address();
      resolve({
        ...(address && typeof address === 'object' ? { port: address.port } : {}),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const s of open) s.destroy();
          }),
      });
    });
  });
}
