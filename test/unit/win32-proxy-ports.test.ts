// The elevated Windows backend's allowlist proxy on its pinned loopback port pairs (the only loopback ports the
// offline account's firewall block leaves open), run here on real loopback sockets: the first free pair is taken, a
// pair in use is skipped, all in use is a clear refusal, and the proxy there admits a credential and nothing else.
// That the firewall leaves exactly these ports open is a Windows property checked by Verify, not here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { NetworkProxy } from '../../src/network/proxy';
import { openPinnedGateway } from '../../src/sandbox/windows/elevated/proxy-ports';
import { proxyPortPair, WINDOWS_PROXY_PORTS } from '../../src/policy/compile-win32';

function occupy(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

function firstLine(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\r\n')) {
        s.destroy();
        resolve(got.split('\r\n')[0]);
      }
    });
    s.on('error', reject);
  });
}

const pinnedAnswer = async () => [{ address: '127.0.0.1', family: 4 as const, pinned: true }];

function newProxy(dir: string): NetworkProxy {
  return new NetworkProxy({ socketDir: path.join(dir, 'proxy'), resolver: pinnedAnswer });
}

test('elevated proxy ports: the first free pair is used, a taken pair is skipped, all taken is refused with the fix', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-pinned-'));
  const proxy = newProxy(dir);
  const held: net.Server[] = [];
  t.after(async () => {
    await proxy.close();
    held.forEach((s) => s.close());
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // Skip (with the reason) when another program on this machine already holds the first pair.
  try {
    held.push(await occupy(proxyPortPair(0).httpPort));
  } catch {
    t.skip(`port ${proxyPortPair(0).httpPort} is in use on this machine`);
    return;
  }
  const gw = await openPinnedGateway(proxy, 'unit');
  assert.deepEqual([gw.httpPort, gw.socksPort], [proxyPortPair(1).httpPort, proxyPortPair(1).socksPort]);
  await gw.close();
  for (let i = 1; i < WINDOWS_PROXY_PORTS.pairs; i++) held.push(await occupy(proxyPortPair(i).socksPort));
  await assert.rejects(openPinnedGateway(proxy, 'unit'), (e: Error & { code?: string }) => {
    return (
      e.code === 'backend-unavailable' &&
      /port pairs the firewall leaves open/.test(e.message) &&
      /netstat/.test((e as { fix?: string }).fix ?? '')
    );
  });
});

test('elevated proxy ports: the pinned gateway admits its command credential and refuses a connection without one', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-pinned-'));
  const target = net.createServer((s) => s.end('hello'));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
  const port = (target.address() as net.AddressInfo).port;
  const proxy = newProxy(dir);
  t.after(async () => {
    await proxy.close();
    target.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let gw;
  try {
    gw = await openPinnedGateway(proxy, 'unit');
  } catch (e) {
    t.skip(`no pinned pair is free on this machine: ${(e as Error).message}`);
    return;
  }
  assert.ok(
    gw.httpPort >= WINDOWS_PROXY_PORTS.first && gw.httpPort < WINDOWS_PROXY_PORTS.first + 2 * WINDOWS_PROXY_PORTS.pairs,
  );
  // The test resolver maps allowed.test to the local target (pinned, as the proxy tests do).
  const s = gw.openSession({ command: 'unit', allowedDomains: ['allowed.test'], deniedDomains: [] });
  const auth = Buffer.from(`${s.user}:${s.password}`).toString('base64');
  const req = (cred: boolean) =>
    `CONNECT allowed.test:${port} HTTP/1.1\r\nHost: allowed.test:${port}\r\n` +
    (cred ? `Proxy-Authorization: Basic ${auth}\r\n` : '') +
    '\r\n';
  const without = await firstLine(gw.httpPort, req(false));
  assert.match(without, /^HTTP\/1\.1 407/);
  assert.match(await firstLine(gw.httpPort, req(true)), /^HTTP\/1\.1 200 /);
});
