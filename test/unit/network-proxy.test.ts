/**
 * The allowlist proxy on its own (no sandbox): CONNECT and plain-HTTP forwarding over a gateway's Unix socket,
 * per-command credentials (missing, wrong, another command's, another gateway's, ended), the DNS-rebinding
 * refusal with its literal and pinned controls, the denial records, and the private socket folder.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetworkProxy, type NetworkDenial, type ProxyGateway, type ProxySession } from '../../src/network/proxy';
import type { ResolvedAddress } from '../../src/network/resolver';

let answer: ResolvedAddress[] = [];
const seen: string[] = [];
let upstreamHeaders: http.IncomingHttpHeaders = {};

function listen(server: net.Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
}

/** Sends raw bytes to a gateway socket and returns the first line of the reply (and the socket). */
function rawRequest(socketPath: string, text: string): Promise<{ status: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath, () => s.write(text));
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\r\n\r\n')) {
        const [head, body] = got.split('\r\n\r\n');
        s.destroy();
        resolve({ status: head.split('\r\n')[0], body });
      }
    });
    s.on('error', reject);
  });
}

const basic = (s: Pick<ProxySession, 'user' | 'password'>) => Buffer.from(`${s.user}:${s.password}`).toString('base64');
const connect = (gw: ProxyGateway, target: string, cred?: Pick<ProxySession, 'user' | 'password'>) =>
  rawRequest(
    gw.httpPath,
    `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n` +
      (cred ? `Proxy-Authorization: Basic ${basic(cred)}\r\n` : '') +
      '\r\n',
  );

describe('allowlist proxy (host side)', () => {
  const denials: NetworkDenial[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-proxy-unit-'));
  const proxy = new NetworkProxy({
    socketDir: path.join(dir, 'proxy'),
    resolver: async (h) => (seen.push(h), answer),
    onDenial: (d) => denials.push(d),
  });
  let port = 0;
  let server: http.Server;
  let gw: ProxyGateway;
  before(async () => {
    server = http.createServer((req, res) => {
      upstreamHeaders = req.headers;
      res.end(`hello ${req.url}`);
    });
    port = await listen(server);
    gw = await proxy.openGateway('unit');
  });
  after(async () => {
    await proxy.close();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the gateway folder is private (0700), its sockets 0600, and closing removes it', async () => {
    const g = await proxy.openGateway('perm');
    assert.equal(fs.statSync(g.dir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(g.httpPath).mode & 0o777, 0o600);
    assert.equal(fs.statSync(g.socksPath).mode & 0o777, 0o600);
    await g.close();
    assert.equal(fs.existsSync(g.dir), false);
  });

  it("CONNECT with the command's credential tunnels to the resolved (pinned) address", async () => {
    answer = [{ address: '127.0.0.1', family: 4, pinned: true }];
    const s = gw.openSession({ command: 'a', allowedDomains: ['allowed.test'], deniedDomains: [] });
    const r = await connect(gw, `allowed.test:${port}`, s);
    assert.equal(r.status, 'HTTP/1.1 200 Connection Established');
    s.close();
  });

  it('without a credential, with a wrong one, or after the session ended: 407, recorded as a bypass attempt', async () => {
    const s = gw.openSession({ command: 'a', allowedDomains: ['allowed.test'], deniedDomains: [] });
    const before = gw.unattributed.length;
    assert.match((await connect(gw, `allowed.test:${port}`)).status, /^HTTP\/1.1 407/);
    assert.match(
      (
        await connect(gw, `allowed.test:${port}`, {
          user: s.user,
          password: (s.password[0] === 'x' ? 'y' : 'x') + s.password.slice(1),
        })
      ).status,
      /407/,
    );
    s.close();
    assert.match((await connect(gw, `allowed.test:${port}`, s)).status, /407/);
    assert.deepEqual(
      gw.unattributed.slice(before).map((d) => [d.reason, d.command]),
      [
        ['no-credential', 'unit'],
        ['no-credential', 'unit'],
        ['no-credential', 'unit'],
      ],
    );
  });

  it('a credential works only on its own gateway', async () => {
    answer = [{ address: '127.0.0.1', family: 4, pinned: true }];
    const other = await proxy.openGateway('other');
    const s = gw.openSession({ command: 'a', allowedDomains: ['allowed.test'], deniedDomains: [] });
    assert.match((await connect(other, `allowed.test:${port}`, s)).status, /407/);
    await other.close();
    s.close();
  });

  it("one command's grant is not another's: a session without it is refused and the refusal names the grant", async () => {
    answer = [{ address: '127.0.0.1', family: 4, pinned: true }];
    const a = gw.openSession({
      command: 'with grant',
      allowedDomains: ['allowed.test', 'granted.test'],
      deniedDomains: [],
    });
    const b = gw.openSession({ command: 'without', allowedDomains: ['allowed.test'], deniedDomains: [] });
    assert.match((await connect(gw, `granted.test:${port}`, a)).status, / 200 /);
    const r = await connect(gw, `granted.test:${port}`, b);
    assert.match(r.status, / 403 /);
    assert.match(r.body, /blocked granted\.test:\d+: not in the allowlist/);
    assert.deepEqual(
      b.denials.map((d) => [d.command, d.host, d.reason, d.grant]),
      [['without', 'granted.test', 'not-allowed', 'granted.test']],
    );
    assert.equal(a.denials.length, 0);
    a.close();
    b.close();
  });

  it('a refused name is never resolved (the name does not leave the host)', async () => {
    seen.length = 0;
    const s = gw.openSession({ command: 'a', allowedDomains: ['allowed.test'], deniedDomains: [] });
    await connect(gw, 'exfil-data-in-the-name.example:443', s);
    assert.deepEqual(seen, []);
    s.close();
  });

  it('DNS rebinding: a DNS answer in a private range is refused unless that address is allowed literally; a pin is literal', async () => {
    const s = gw.openSession({ command: 'a', allowedDomains: ['rebind.test'], deniedDomains: [] });
    answer = [{ address: '127.0.0.1', family: 4, pinned: false }];
    const r = await connect(gw, `rebind.test:${port}`, s);
    assert.match(r.status, / 403 /);
    assert.match(r.body, /resolves to a loopback address \(127\.0\.0\.1\)/);
    assert.equal(s.denials.at(-1)?.grant, `127.0.0.1:${port}`);
    // Any private answer among several poisons the lookup.
    answer = [
      { address: '93.184.216.34', family: 4, pinned: false },
      { address: '10.0.0.5', family: 4, pinned: false },
    ];
    assert.match((await connect(gw, 'rebind.test:443', s)).status, / 403 /);
    s.close();
    const literal = gw.openSession({
      command: 'b',
      allowedDomains: ['rebind.test', `127.0.0.1:${port}`],
      deniedDomains: [],
    });
    answer = [{ address: '127.0.0.1', family: 4, pinned: false }];
    assert.match((await connect(gw, `rebind.test:${port}`, literal)).status, / 200 /);
    literal.close();
    const pinned = gw.openSession({ command: 'c', allowedDomains: ['rebind.test'], deniedDomains: [] });
    answer = [{ address: '127.0.0.1', family: 4, pinned: true }];
    assert.match((await connect(gw, `rebind.test:${port}`, pinned)).status, / 200 /);
    pinned.close();
  });

  it('plain HTTP is forwarded with the proxy credential stripped; https:// without CONNECT is refused', async () => {
    answer = [{ address: '127.0.0.1', family: 4, pinned: true }];
    const s = gw.openSession({ command: 'a', allowedDomains: ['allowed.test'], deniedDomains: [] });
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: gw.httpPath,
          path: `http://allowed.test:${port}/x?y=1`,
          headers: { Host: `allowed.test:${port}`, 'Proxy-Authorization': `Basic ${basic(s)}` },
        },
        (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${b}`));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(body, '200 hello /x?y=1');
    assert.equal(upstreamHeaders['proxy-authorization'], undefined);
    assert.equal(upstreamHeaders.host, `allowed.test:${port}`);
    const r = await rawRequest(
      gw.httpPath,
      `GET https://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\nProxy-Authorization: Basic ${basic(s)}\r\n\r\n`,
    );
    assert.match(r.status, / 400 /);
    s.close();
  });

  it('SOCKS5: a greeting without username/password is refused (no acceptable method) and recorded as a bypass attempt', async () => {
    const before = gw.unattributed.length;
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect(gw.socksPath, () => s.write(Buffer.from([5, 1, 0])));
      s.once('data', (d: Buffer) => {
        s.destroy();
        resolve(d);
      });
      s.on('error', reject);
    });
    assert.deepEqual([...reply], [5, 0xff]);
    assert.deepEqual(
      gw.unattributed.slice(before).map((d) => d.reason),
      ['no-credential'],
    );
  });

  it("SOCKS5 with the command's credential connects to an allowed name (the library parses; the gateway decides)", async () => {
    answer = [{ address: '127.0.0.1', family: 4, pinned: true }];
    const s = gw.openSession({ command: 'a', allowedDomains: ['allowed.test'], deniedDomains: [] });
    const { SocksClient } = await import('socks');
    const refused = await SocksClient.createConnection({
      proxy: { host: '0.0.0.0', port: 1, type: 5, userId: s.user, password: s.password },
      command: 'connect',
      destination: { host: 'denied.test', port },
      existing_socket: net.connect(gw.socksPath),
    }).then(
      () => 'ok',
      (e: Error) => e.message,
    );
    assert.match(refused, /NotAllowed/);
    const ok = await SocksClient.createConnection({
      proxy: { host: '0.0.0.0', port: 1, type: 5, userId: s.user, password: s.password },
      command: 'connect',
      destination: { host: 'allowed.test', port },
      existing_socket: net.connect(gw.socksPath),
    });
    ok.socket.destroy();
    s.close();
  });

  it('every refusal reaches the onDenial listener', () => {
    assert.ok(denials.some((d) => d.reason === 'private-address'));
    assert.ok(denials.some((d) => d.reason === 'no-credential'));
    assert.ok(denials.some((d) => d.reason === 'not-allowed'));
  });
});
