/**
 * The allowlist proxy: runs on the host, outside every sandbox. Each sandbox gets a gateway (its own pair of Unix
 * sockets in a private 0700 folder: HTTP with CONNECT, and SOCKS5 with remote name resolution), and each command
 * a session with its own random credential and its own domain rules, so a grant for one command does not open the
 * domain to another running at the same time, and a program without a credential cannot use the proxy.
 * Names are resolved here, never in the sandbox; a name whose answer is a loopback, private or link-local address
 * is refused unless that address was allowed literally (DNS rebinding). Every refusal is recorded.
 * Must never change system, WinINET or git-global proxy settings, never intercept TLS, and never connect before
 * the session, the rules and the resolved address were all checked.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { nonPublicRange } from '../policy/addresses';
import {
  addressAllowedLiterally,
  decideDomain,
  normalizeHost,
  parseDomainRules,
  type DomainRule,
} from '../policy/domains';
import { systemResolver, withTemporaryAnswers, type Resolver } from './resolver';
import { startHttpFrontend, type Admission } from './http-frontend';
import { startSocksFrontend } from './socks-frontend';

export type DenialReason = 'not-allowed' | 'denied' | 'private-address' | 'no-credential';

/** One refused connection. */
export interface NetworkDenial {
  time: string;
  /** The command (or sandbox, for connections without a credential) that asked. */
  command: string;
  host: string;
  port: number;
  reason: DenialReason;
  /** What happened, in words. */
  message: string;
  /** The allowlist entry that would let it through, when a grant can (never for `denied` or `no-credential`). */
  grant?: string;
}

export interface SessionRequest {
  /** Shown in the denial log. */
  command: string;
  /** Validated entries (presets allowed); this command's grants already merged in. Empty allows nothing. */
  allowedDomains: string[];
  deniedDomains: string[];
}

export type { Admission };

export interface ProxyOptions {
  /** Where gateways make their private socket folders (created 0700). */
  socketDir: string;
  resolver?: Resolver;
  /** Called for every refusal, after it was recorded on its session. */
  onDenial?: (d: NetworkDenial) => void;
  connectTimeoutMs?: number;
}

/** One command's credential and rules. */
export class ProxySession {
  readonly user: string;
  readonly password: string;
  readonly denials: NetworkDenial[] = [];
  readonly allowed: DomainRule[];
  readonly denied: DomainRule[];
  closed = false;

  constructor(
    readonly gateway: ProxyGateway,
    readonly command: string,
    req: SessionRequest,
  ) {
    this.user = `cmd${randomBytes(6).toString('hex')}`;
    this.password = randomBytes(24).toString('base64url');
    this.allowed = parseDomainRules(req.allowedDomains);
    this.denied = parseDomainRules(req.deniedDomains);
  }

  /** Ends the credential: later connections with it are refused. Idempotent. */
  close(): void {
    this.closed = true;
    this.gateway.sessions.delete(this.user);
  }
}

/** One sandbox's entry to the proxy: its sockets and the sessions of its commands. */
export class ProxyGateway {
  readonly sessions = new Map<string, ProxySession>();
  /** Refusals not attributable to a session (no or a wrong credential). */
  readonly unattributed: NetworkDenial[] = [];
  private readonly closers: (() => Promise<void>)[] = [];
  /** `tcp` transport: the loopback ports (Windows, where no socket can be bound into the sandbox). */
  httpPort = 0;
  socksPort = 0;

  constructor(
    readonly proxy: NetworkProxy,
    readonly label: string,
    readonly dir: string,
    readonly transport: 'unix' | 'tcp',
  ) {}

  get httpPath(): string {
    return path.join(this.dir, 'http.sock');
  }

  get socksPath(): string {
    return path.join(this.dir, 'socks.sock');
  }

  async start(): Promise<void> {
    const tcp = { host: '127.0.0.1', port: 0 } as const;
    const http = await startHttpFrontend(this, this.transport === 'tcp' ? tcp : this.httpPath);
    this.closers.push(http.close);
    const socks = await startSocksFrontend(this, this.transport === 'tcp' ? tcp : this.socksPath);
    this.closers.push(socks.close);
    if (this.transport === 'tcp') {
      this.httpPort = http.port!;
      this.socksPort = socks.port!;
    } else for (const p of [this.httpPath, this.socksPath]) fs.chmodSync(p, 0o600);
  }

  openSession(req: SessionRequest): ProxySession {
    const s = new ProxySession(this, req.command, req);
    this.sessions.set(s.user, s);
    return s;
  }

  /** The session a credential belongs to, compared in constant time; undefined when it is unknown or closed. */
  sessionFor(user: string | undefined, password: string | undefined): ProxySession | undefined {
    const s = user === undefined ? undefined : this.sessions.get(user);
    if (!s || s.closed || password === undefined) return undefined;
    const a = Buffer.from(password);
    const b = Buffer.from(s.password);
    return a.length === b.length && timingSafeEqual(a, b) ? s : undefined;
  }

  /** Checks a request and resolves its target: the one place that decides whether a connection may be made. */
  admit(user: string | undefined, password: string | undefined, host: string, port: number): Promise<Admission> {
    return this.proxy.admit(this, this.sessionFor(user, password), host, port);
  }

  /** Stops listening, ends every session and removes the private folder. Idempotent. */
  async close(): Promise<void> {
    const closers = this.closers.splice(0);
    await Promise.all(closers.map((c) => c()));
    for (const s of [...this.sessions.values()]) s.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.proxy.forget(this);
  }
}

export class NetworkProxy {
  private readonly resolver: Resolver;
  private readonly gateways = new Set<ProxyGateway>();

  constructor(private readonly opts: ProxyOptions) {
    this.resolver = withTemporaryAnswers(opts.resolver ?? systemResolver);
  }

  get connectTimeoutMs(): number {
    return this.opts.connectTimeoutMs ?? 15_000;
  }

  /**
   * A new gateway with its own private socket folder, listening on Unix sockets there; or, with `tcp` (Windows),
   * on two loopback ports, where only the credential keeps other programs out.
   */
  async openGateway(label: string, transport: 'unix' | 'tcp' = 'unix'): Promise<ProxyGateway> {
    fs.mkdirSync(this.opts.socketDir, { recursive: true, mode: 0o700 });
    const dir = fs.mkdtempSync(path.join(this.opts.socketDir, 'gw-'));
    fs.chmodSync(dir, 0o700);
    const gw = new ProxyGateway(this, label, dir, transport);
    try {
      await gw.start();
    } catch (e) {
      await gw.close();
      throw e;
    }
    this.gateways.add(gw);
    return gw;
  }

  async admit(gw: ProxyGateway, session: ProxySession | undefined, rawHost: string, port: number): Promise<Admission> {
    const host = normalizeHost(rawHost);
    if (!session) {
      this.record(
        gw,
        undefined,
        host,
        port,
        'no-credential',
        "a connection without this command's proxy credential (a client that bypassed the proxy settings, or another program)",
      );
      return { ok: false, kind: 'auth', message: 'proxy credential missing or wrong' };
    }
    const verdict = decideDomain(session.allowed, session.denied, host, port);
    if (!verdict.ok) {
      const message =
        verdict.reason === 'denied'
          ? `denied by the deniedDomains entry "${verdict.rule!.text}"`
          : 'not in the allowlist';
      this.record(
        gw,
        session,
        host,
        port,
        verdict.reason,
        message,
        verdict.reason === 'not-allowed' ? host : undefined,
      );
      return { ok: false, kind: 'refused', message };
    }
    if (net.isIP(host)) return { ok: true, address: host, family: net.isIP(host) === 6 ? 6 : 4 };
    let answers;
    try {
      answers = await this.resolver(host);
    } catch (e) {
      return {
        ok: false,
        kind: 'unreachable',
        message: `cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      };
    }
    if (!answers.length) return { ok: false, kind: 'unreachable', message: `no address for ${host}` };
    // `localhost` named literally in the allowlist is a literal allowance of what it resolves to.
    const literalName = verdict.rule.kind === 'exact' && host === 'localhost';
    const bad = answers.find(
      (a) =>
        !a.pinned &&
        !literalName &&
        nonPublicRange(a.address) !== undefined &&
        !addressAllowedLiterally(session.allowed, a.address, port),
    );
    if (bad) {
      const message =
        `resolves to a ${nonPublicRange(bad.address)} address (${bad.address}), which is refused unless that ` +
        'address is allowed literally';
      this.record(
        gw,
        session,
        host,
        port,
        'private-address',
        message,
        `${bad.address.includes(':') ? `[${bad.address}]` : bad.address}:${port}`,
      );
      return { ok: false, kind: 'refused', message };
    }
    return { ok: true, address: answers[0].address, family: answers[0].family };
  }

  private record(
    gw: ProxyGateway,
    session: ProxySession | undefined,
    host: string,
    port: number,
    reason: DenialReason,
    message: string,
    grant?: string,
  ): void {
    const d: NetworkDenial = {
      time: new Date().toISOString(),
      command: session?.command ?? gw.label,
      host,
      port,
      reason,
      message,
      ...(grant ? { grant } : {}),
    };
    (session?.denials ?? gw.unattributed).push(d);
    this.opts.onDenial?.(d);
  }

  /** Connects to an admitted target (never to anything else). */
  connect(a: Extract<Admission, { ok: true }>, port: number): net.Socket {
    const sock = net.connect({ host: a.address, port, family: a.family });
    sock.setTimeout(this.connectTimeoutMs, () => sock.destroy(new Error('connect timed out')));
    sock.once('connect', () => sock.setTimeout(0));
    return sock;
  }

  async close(): Promise<void> {
    const all = [...this.gateways];
    this.gateways.clear();
    await Promise.all(all.map((g) => g.close()));
  }

  forget(gw: ProxyGateway): void {
    this.gateways.delete(gw);
  }
}
