/**
 * A Node client run INSIDE the sandbox by the allowlist tests. It takes the proxy from the environment the sandbox
 * gave it, as a real client would, and prints what it got back (or the error).
 * Usage: node allowlist-client.js connect HOST PORT CAFILE | forward HOST PORT | socks HOST PORT CAFILE
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as tls from 'node:tls';
import { SocksClient } from 'socks';

const [mode, host, portText, caFile] = process.argv.slice(2);
const port = Number(portText);

function proxyUrl(name: string): URL {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return new URL(v);
}

function basic(u: URL): string {
  return (
    'Basic ' + Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')
  );
}

/** HTTPS GET over an established socket (TLS to `host`, verified against the test CA). */
function getOverTls(socket: import('node:net').Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = tls.connect({ socket, servername: host, ca: fs.readFileSync(caFile) }, () => {
      t.write(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
    });
    let body = '';
    t.on('data', (d: Buffer) => (body += d.toString()));
    t.on('end', () => resolve(body.split('\r\n\r\n')[1] ?? body));
    t.on('error', reject);
  });
}

async function viaConnect(): Promise<string> {
  const p = proxyUrl('HTTPS_PROXY');
  const socket = await new Promise<import('node:net').Socket>((resolve, reject) => {
    const req = http.request({
      host: p.hostname,
      port: p.port,
      method: 'CONNECT',
      path: `${host}:${port}`,
      headers: { 'Proxy-Authorization': basic(p) },
    });
    req.once('connect', (res, s) =>
      res.statusCode === 200 ? resolve(s) : reject(new Error(`proxy said ${res.statusCode}`)),
    );
    req.once('error', reject);
    req.end();
  });
  return getOverTls(socket);
}

function viaForward(): Promise<string> {
  const p = proxyUrl('HTTP_PROXY');
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: p.hostname,
        port: p.port,
        path: `http://${host}:${port}/`,
        headers: { Host: `${host}:${port}`, 'Proxy-Authorization': basic(p) },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`proxy said ${res.statusCode}: ${body.trim()}`)),
        );
      },
    );
    req.once('error', reject);
  });
}

async function viaSocks(): Promise<string> {
  const p = proxyUrl('ALL_PROXY');
  const { socket } = await SocksClient.createConnection({
    proxy: {
      host: p.hostname,
      port: Number(p.port),
      type: 5,
      userId: decodeURIComponent(p.username),
      password: decodeURIComponent(p.password),
    },
    command: 'connect',
    destination: { host, port },
  });
  return getOverTls(socket);
}

const modes: Record<string, () => Promise<string>> = { connect: viaConnect, forward: viaForward, socks: viaSocks };
modes[mode]().then(
  (body) => process.stdout.write(`OK ${body.trim()}\n`),
  (e: Error) => {
    process.stdout.write(`FAILED ${e.message}\n`);
    process.exitCode = 1;
  },
);
