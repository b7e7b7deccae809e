// Wine tier: the network allowlist in unelevated mode through `agent-sandbox run` under node.exe: the host proxy on
// loopback, the command's proxy variables with its own credential, an allowed name through CONNECT, a refused one
// with the CLI's blocked line, and the ADVISORY warning. Plumbing only: unelevated mode is advisory by design (a
// program that ignores the variables is not stopped), and Wine enforces nothing anyway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.resolve(__dirname, '../../../../dist/cli.js');

const CLIENT = `
const net = require('net');
const p = new URL(process.env.HTTPS_PROXY);
const auth = Buffer.from(decodeURIComponent(p.username) + ':' + decodeURIComponent(p.password)).toString('base64');
function tunnel(host, port) {
  return new Promise((resolve) => {
    const s = net.connect(Number(p.port), p.hostname, () => s.write('CONNECT ' + host + ':' + port + ' HTTP/1.1\\r\\nProxy-Authorization: Basic ' + auth + '\\r\\n\\r\\n'));
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.startsWith('HTTP/1.1 200') && got.includes('\\r\\n\\r\\n') && !s.sent) { s.sent = true; s.write('GET / HTTP/1.1\\r\\nHost: ' + host + '\\r\\nConnection: close\\r\\n\\r\\n'); }
    });
    s.on('close', () => resolve(got.split('\\r\\n')[0] + ' | ' + got.split('\\r\\n\\r\\n').pop().trim()));
    s.on('error', (e) => resolve('error ' + e.code));
  });
}
(async () => {
  console.log(await tunnel('allowed.test', process.argv[2]));
  console.log(await tunnel('denied.test', process.argv[2]));
})();
`;

test('allowlist, unelevated: an allowed name through the proxy, a refused one with the blocked line, and the ADVISORY warning (plumbing only; unelevated is advisory, Wine enforces nothing)', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'as-allow-'));
  const ws = path.join(base, 'ws');
  fs.mkdirSync(ws);
  fs.writeFileSync(path.join(ws, 'client.js'), CLIENT);
  const server = http.createServer((req, res) => res.end(`hello ${req.headers.host}`));
  const port = await new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
  );
  try {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          CLI,
          'run',
          '--network',
          'allowlist',
          '--allow-domain',
          'allowed.test',
          '--',
          process.execPath,
          'client.js',
          String(port),
        ],
        {
          cwd: ws,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...process.env,
            AGENT_SANDBOX_STATE_DIR: path.join(base, 'state'),
            AGENT_SANDBOX_RESOLVE: 'allowed.test=127.0.0.1,denied.test=127.0.0.1',
          },
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill(), 90_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split(/\r?\n/);
    assert.equal(lines[0], 'HTTP/1.1 200 Connection Established | hello allowed.test', r.stdout + r.stderr);
    assert.match(
      lines[1],
      /^HTTP\/1\.1 403 Forbidden \| agent-sandbox: blocked denied\.test:\d+: not in the allowlist/,
    );
    assert.ok(
      r.stderr.includes(
        `agent-sandbox: blocked denied.test:${port} — not in the allowlist; allow it with --allow-domain denied.test`,
      ),
      r.stderr,
    );
    assert.match(r.stderr, /agent-sandbox: warning: .*allowlist without the one-time administrator setup is ADVISORY/);
  } finally {
    server.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
});
