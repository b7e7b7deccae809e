// The probe's plumbing, run WITHOUT a sandbox: these tests prove it reports raw facts faithfully (writes, reads,
// env, TCP, DNS, the heartbeat), never that anything is enforced. Enforcement is test/validation's job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseFacts } from '../../src/verify';
import { answerA, questionName } from '../../src/verify/dns-wire';
import { DNS_ANSWER, Listeners, selfTestEndpoint } from '../../src/verify/listeners';
import { packageRoot, probePath } from '../../src/verify/probe-path';
import { SandboxError } from '../../src/errors';
import { SECRET_SEEN, type ProbeAction, type ProbeFact } from '../../src/verify/types';

const PROBE = path.join(__dirname, '..', '..', 'src', 'verify', 'probe.js');

async function runProbe(actions: ProbeAction[], env: NodeJS.ProcessEnv = process.env): Promise<Map<string, ProbeFact>> {
  const { spawn } = await import('node:child_process');
  const spec = Buffer.from(JSON.stringify({ actions })).toString('base64');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PROBE, spec], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(parseFacts(out)) : reject(new Error(`probe exited ${code}`))));
  });
}

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'verify-probe-test-'));
}

test('probe (unsandboxed): writes create new files and never touch existing ones', async () => {
  const dir = tmp();
  try {
    const existing = path.join(dir, 'existing');
    fs.writeFileSync(existing, 'keep me');
    const facts = await runProbe([
      { id: 'new', kind: 'write', path: path.join(dir, 'new.txt'), anchor: dir, content: 'N1' },
      { id: 'open', kind: 'write', path: existing, anchor: existing, openOnly: true, content: 'N2' },
      { id: 'clobber', kind: 'write', path: existing, anchor: dir, content: 'N3' },
      {
        id: 'nested',
        kind: 'write',
        path: path.join(dir, 'a', 'b', 'f'),
        anchor: dir,
        mkdirParent: true,
        content: 'N4',
      },
      { id: 'hidden', kind: 'write', path: path.join(dir, 'x'), anchor: path.join(dir, 'nope'), content: 'N5' },
    ]);
    assert.deepEqual(facts.get('new'), { id: 'new', ok: true });
    assert.equal(fs.readFileSync(path.join(dir, 'new.txt'), 'utf8'), 'N1');
    assert.equal(facts.get('open')?.ok, true);
    assert.equal(facts.get('clobber')?.code, 'EEXIST');
    assert.equal(fs.readFileSync(existing, 'utf8'), 'keep me');
    assert.equal(facts.get('nested')?.ok, true);
    assert.equal(facts.get('hidden')?.code, 'ANCHOR_MISSING');
    assert.equal(fs.existsSync(path.join(dir, 'x')), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('probe (unsandboxed): reads report whether the secret was seen; env reports leaking variable names', async () => {
  const dir = tmp();
  try {
    fs.writeFileSync(path.join(dir, 's'), 'key NONCE123');
    fs.writeFileSync(path.join(dir, 'o'), 'other');
    const facts = await runProbe(
      [
        { id: 's', kind: 'read', path: path.join(dir, 's'), anchor: dir, nonce: 'NONCE123' },
        { id: 'o', kind: 'read', path: path.join(dir, 'o'), anchor: dir, nonce: 'NONCE123' },
        { id: 'm', kind: 'read', path: path.join(dir, 'm'), anchor: dir, nonce: 'NONCE123' },
        { id: 'env', kind: 'env', nonce: 'NONCE123' },
      ],
      { ...process.env, LEAK_TOKEN: 'x-NONCE123' },
    );
    assert.equal(facts.get('s')?.value, SECRET_SEEN);
    assert.equal(facts.get('o')?.value, 'other');
    assert.equal(facts.get('m')?.code, 'ENOENT');
    assert.equal(facts.get('env')?.value, 'LEAK_TOKEN');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('probe (unsandboxed) + listeners: TCP and DNS reach the verifier, which records the nonce', async () => {
  const l = new Listeners();
  try {
    const tcp = await l.listenTcp('127.0.0.1');
    const dns = await l.listenDns('127.0.0.1');
    assert.equal(await selfTestEndpoint(tcp, 'self'), true);
    const facts = await runProbe([
      { id: 't', kind: 'tcp', host: tcp.host, port: tcp.port, nonce: 'NONCE-T' },
      { id: 'd', kind: 'dns', server: dns.host, port: dns.port, name: 'abc.verify.agent-sandbox.test' },
      { id: 'refused', kind: 'tcp', host: '127.0.0.1', port: 1, nonce: 'x' },
    ]);
    assert.equal(facts.get('t')?.ok, true);
    assert.ok(l.tcpSeen.get('127.0.0.1')?.has('NONCE-T'));
    assert.ok(l.tcpSeen.get('127.0.0.1')?.has('self'));
    assert.deepEqual(facts.get('d'), { id: 'd', ok: true, value: DNS_ANSWER });
    assert.ok(l.dnsSeen.has('abc.verify.agent-sandbox.test'));
    assert.equal(facts.get('refused')?.code, 'ECONNREFUSED');
  } finally {
    l.close();
    l.close();
  }
});

test('probe (unsandboxed) + listeners: a Unix socket reaches the verifier; a missing one is ENOENT', async () => {
  const dir = tmp();
  const l = new Listeners();
  try {
    const sock = await l.listenUnix(path.join(dir, 'bus'));
    assert.equal(await selfTestEndpoint(sock, 'self'), true);
    const facts = await runProbe([
      { id: 'u', kind: 'unix', path: sock.path, nonce: 'NONCE-U' },
      { id: 'gone', kind: 'unix', path: path.join(dir, 'nothing'), nonce: 'x' },
    ]);
    assert.equal(facts.get('u')?.ok, true);
    assert.ok(l.unixSeen.has('NONCE-U') && l.unixSeen.has('self'));
    assert.equal(facts.get('gone')?.code, 'ENOENT');
  } finally {
    l.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('probe (unsandboxed): the background process outlives the probe until told to stop', async () => {
  const dir = tmp();
  const hb = path.join(dir, 'hb');
  const stop = path.join(dir, 'stop');
  try {
    const facts = await runProbe([{ id: 'o', kind: 'orphan', heartbeat: hb, stop }]);
    assert.equal(facts.get('o')?.ok, true);
    const a = fs.readFileSync(hb, 'utf8');
    await new Promise((r) => setTimeout(r, 400));
    assert.notEqual(fs.readFileSync(hb, 'utf8'), a, 'still beating after the probe exited (no sandbox kills it here)');
    fs.writeFileSync(stop, '');
    await new Promise((r) => setTimeout(r, 400));
    const b = fs.readFileSync(hb, 'utf8');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(fs.readFileSync(hb, 'utf8'), b, 'stopped by the stop file');
  } finally {
    fs.writeFileSync(stop, '');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('dns-wire: reads the question and answers with one A record', () => {
  const q = Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    Buffer.from([3, ...Buffer.from('Foo'), 4, ...Buffer.from('test'), 0, 0, 1, 0, 1]),
  ]);
  assert.equal(questionName(q), 'foo.test');
  const a = answerA(q, '192.0.2.1');
  assert.ok(a);
  assert.equal(a.readUInt16BE(0), 0x1234);
  assert.equal(a.readUInt16BE(6), 1);
  assert.deepEqual([...a.subarray(a.length - 4)], [192, 0, 2, 1]);
  assert.equal(questionName(Buffer.from([1, 2, 3])), undefined);
  assert.equal(answerA(Buffer.concat([q.subarray(0, 12), Buffer.from([70, 1])]), '1.2.3.4'), undefined);
});

test('probePath: finds dist/probe.js from the package root, and says how to fix it when missing', () => {
  const root = packageRoot(__dirname);
  assert.ok(root && JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).name === 'agent-sandbox');
  if (fs.existsSync(path.join(root, 'dist', 'probe.js')))
    assert.equal(probePath(__dirname), path.join(root, 'dist', 'probe.js'));
  assert.throws(
    () => probePath(os.tmpdir()),
    (e: unknown) => e instanceof SandboxError && /npm run build/.test(e.fix),
  );
});

test('the bundled probe runs standalone (dist/probe.js needs nothing from node_modules)', (t) => {
  const root = packageRoot(__dirname) as string;
  const bundled = path.join(root, 'dist', 'probe.js');
  if (!fs.existsSync(bundled)) return t.skip('dist/probe.js not built (run node scripts/build.mjs)');
  const spec = Buffer.from(JSON.stringify({ actions: [{ id: 'e', kind: 'env', nonce: 'zz' }] })).toString('base64');
  const r = spawnSync(process.execPath, [bundled, spec], { cwd: os.tmpdir(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(parseFacts(r.stdout).get('e'), { id: 'e', ok: true, value: '' });
});
