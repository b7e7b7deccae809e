/**
 * Host-side fixtures for the allowlist tests (no internet here): a TLS server with a throwaway certificate for the
 * `.test` names, a plain TCP listener that counts connections (to judge a bypass by its effect on the host), a
 * tiny npm registry (packument and tarball), and the CLI run asynchronously (the listeners live in this process,
 * so a synchronous spawn would block them).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { CLI, NODE, STATE_DIR, tempDir } from './helpers';

export const NAMES = ['allowed.test', 'denied.test', 'granted.test', 'rebind.test', 'registry.test'];

export interface Listeners {
  /** HTTPS: answers `hello from <Host>` on every path. */
  tlsPort: number;
  /** Plain HTTP: the same answer. */
  httpPort: number;
  /** Raw TCP: counts connections, answers nothing. */
  rawPort: number;
  rawConnections: () => number;
  /** The certificate curl and Node trust inside the sandbox (a file in `dir`). */
  caFile: string;
  dir: string;
  /** `HOST PATH` of every request the HTTP(S) listeners answered. */
  requests: string[];
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

export async function startListeners(): Promise<Listeners> {
  const dir = tempDir('as-allow-ws-');
  const key = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      caFile,
      '-days',
      '2',
      '-subj',
      '/CN=allowed.test',
      '-addext',
      `subjectAltName=${NAMES.map((n) => `DNS:${n}`).join(',')}`,
    ],
    { stdio: 'ignore' },
  );
  const requests: string[] = [];
  const answer = (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push(`${req.headers.host} ${req.url}`);
    res.end(`hello from ${req.headers.host}\n`);
  };
  const tls = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(caFile) }, answer);
  const plain = http.createServer(answer);
  let count = 0;
  const raw = net.createServer((s) => {
    count++;
    s.destroy();
  });
  const servers = [tls, plain, raw];
  const [tlsPort, httpPort, rawPort] = await Promise.all(servers.map(listen));
  return {
    tlsPort,
    httpPort,
    rawPort,
    caFile,
    dir,
    requests,
    rawConnections: () => count,
    close: () =>
      Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((r) => {
              s.close(() => r());
              (s as http.Server).closeAllConnections?.();
            }),
        ),
      ).then(() => undefined),
  };
}

/** A one-package npm registry: `tiny@1.0.0`, packed by npm itself. */
export async function startRegistry(host: string): Promise<{ port: number; close(): Promise<void> }> {
  const src = tempDir('as-tiny-');
  fs.writeFileSync(
    path.join(src, 'package.json'),
    JSON.stringify({ name: 'tiny', version: '1.0.0', main: 'index.js' }),
  );
  fs.writeFileSync(path.join(src, 'index.js'), 'module.exports = "tiny";\n');
  const out = tempDir('as-tiny-pack-');
  execFileSync('npm', ['pack', '--pack-destination', out, '--silent'], { cwd: src, stdio: 'ignore' });
  const tarball = fs.readFileSync(path.join(out, 'tiny-1.0.0.tgz'));
  let port = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/tiny') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          name: 'tiny',
          'dist-tags': { latest: '1.0.0' },
          versions: {
            '1.0.0': {
              name: 'tiny',
              version: '1.0.0',
              dist: {
                tarball: `http://${host}:${port}/tiny/-/tiny-1.0.0.tgz`,
                shasum: createHash('sha1').update(tarball).digest('hex'),
                integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
              },
            },
          },
        }),
      );
    } else if (req.url === '/tiny/-/tiny-1.0.0.tgz') {
      res.end(tarball);
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  port = await listen(server);
  return { port, close: () => new Promise((r) => server.close(() => r())) };
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `agent-sandbox run ARGS` from `cwd`, with the test names pinned to 127.0.0.1 (the proxy's resolver). */
export function cliRun(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(NODE, [CLI, 'run', ...args], {
      cwd,
      env: {
        ...process.env,
        AGENT_SANDBOX_STATE_DIR: STATE_DIR,
        AGENT_SANDBOX_RESOLVE: NAMES.map((n) => `${n}=127.0.0.1`).join(','),
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
