/**
 * The probe (bundled as dist/probe.js): runs inside the sandbox, attempts each action the verifier asks for and
 * prints one raw fact per action. It never judges: the verifier classifies. It must never overwrite or delete an
 * existing file: writes create new, uniquely named files, and existing files are only opened for writing.
 *
 * Usage: probe.js <base64 JSON ProbeSpec>      (the checks)
 *        probe.js --heartbeat <file> <stopFile> (the background process of the "child left running" check)
 */
import { spawn } from 'node:child_process';
import { promises as dnsPromises } from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { sendNonce } from './connect';
import { PROBE_PREFIX, SECRET_SEEN, type ProbeAction, type ProbeFact, type ProbeSpec } from './types';

const NET_TIMEOUT_MS = 3000;
const HEARTBEAT_MS = 100;
/** The background process stops by itself after this, even if nothing kills it. */
const HEARTBEAT_LIFETIME_MS = 30_000;

type Attempt = Omit<ProbeFact, 'id'>;

function errorFact(e: unknown, prefix = ''): Attempt {
  const err = e as NodeJS.ErrnoException;
  return { ok: false, code: prefix + (err?.code ?? 'ERROR'), message: String(err?.message ?? e).slice(0, 300) };
}

function anchorMissing(anchor: string): Attempt | undefined {
  try {
    fs.statSync(anchor);
    return undefined;
  } catch (e) {
    return { ok: false, code: 'ANCHOR_MISSING', message: `${anchor}: ${(e as NodeJS.ErrnoException).code ?? e}` };
  }
}

function attemptWrite(a: Extract<ProbeAction, { kind: 'write' }>): Attempt {
  const missing = anchorMissing(a.anchor);
  if (missing) return missing;
  try {
    if (a.mkdirParent) mkdirParents(path.dirname(a.path));
    if (a.openOnly || (a.openIfExists && fs.existsSync(a.path))) fs.closeSync(fs.openSync(a.path, 'r+'));
    else fs.writeFileSync(a.path, a.content, { flag: 'wx' });
    return { ok: true };
  } catch (e) {
    return errorFact(e);
  }
}

/** `mkdir -p`, but failing with the real errno: Node's recursive mkdir reports EROFS below a read-only mount as ENOENT. */
function mkdirParents(dir: string): void {
  if (fs.existsSync(dir)) return;
  mkdirParents(path.dirname(dir));
  fs.mkdirSync(dir);
}

function attemptTempWrite(a: Extract<ProbeAction, { kind: 'write-temp' }>): Attempt {
  const p = path.join(os.tmpdir(), a.name);
  try {
    fs.writeFileSync(p, a.content, { flag: 'wx' });
    return { ok: true, value: p };
  } catch (e) {
    return { ...errorFact(e), value: p };
  }
}

function attemptRead(a: Extract<ProbeAction, { kind: 'read' }>): Attempt {
  const missing = anchorMissing(a.anchor);
  if (missing) return missing;
  try {
    return { ok: true, value: fs.readFileSync(a.path, 'utf8').includes(a.nonce) ? SECRET_SEEN : 'other' };
  } catch (e) {
    return errorFact(e);
  }
}

/** Connects (TCP or a Unix socket), sends the nonce and reports the listener's answer. */
async function attemptConnect(to: net.NetConnectOpts, nonce: string): Promise<Attempt> {
  const r = await sendNonce(to, nonce, NET_TIMEOUT_MS);
  if (r.ok) return { ok: true, value: r.reply.trim().slice(0, 100) };
  return r.timedOut ? { ok: false, code: 'TIMEOUT', message: `no answer in ${NET_TIMEOUT_MS} ms` } : errorFact(r.error);
}

/** CONNECT through the sandbox's own HTTPS_PROXY, then the nonce line, as a proxy-aware client would. */
function attemptProxy(a: Extract<ProbeAction, { kind: 'proxy' }>): Promise<Attempt> {
  const env = process.env.HTTPS_PROXY;
  if (!env)
    return Promise.resolve({ ok: false, code: 'NO_PROXY_ENV', message: 'HTTPS_PROXY is not set in the sandbox' });
  const proxy = new URL(env);
  const auth = a.credential
    ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}\r\n`
    : '';
  return new Promise((resolve) => {
    const sock = net.connect(Number(proxy.port), proxy.hostname);
    let head = '';
    let tunnelled = false;
    const done = (r: Attempt) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, code: 'TIMEOUT', message: `no answer in ${NET_TIMEOUT_MS} ms` }),
      NET_TIMEOUT_MS,
    );
    sock.on('connect', () =>
      sock.write(`CONNECT ${a.host}:${a.port} HTTP/1.1\r\nHost: ${a.host}:${a.port}\r\n${auth}\r\n`),
    );
    sock.on('data', (d: Buffer) => {
      if (tunnelled) return done({ ok: true, value: d.toString('utf8').trim().slice(0, 100) });
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const status = head.split(' ')[1];
      if (status !== '200')
        return done({ ok: false, code: `PROXY_${status}`, message: head.split('\r\n\r\n')[1]?.trim().slice(0, 200) });
      tunnelled = true;
      sock.write(`${a.nonce}\n`);
    });
    sock.on('error', (e) => done(errorFact(e)));
  });
}

async function attemptDns(a: Extract<ProbeAction, { kind: 'dns' }>): Promise<Attempt> {
  try {
    const resolver = new dnsPromises.Resolver({ timeout: NET_TIMEOUT_MS / 2, tries: 1 });
    resolver.setServers([`${a.server}:${a.port}`]);
    return { ok: true, value: (await resolver.resolve4(a.name)).join(',') };
  } catch (e) {
    return errorFact(e, 'DNS_');
  }
}

function attemptEnv(a: Extract<ProbeAction, { kind: 'env' }>): Attempt {
  const leaked = Object.entries(process.env)
    .filter(([, v]) => v?.includes(a.nonce))
    .map(([k]) => k);
  return { ok: true, value: leaked.join(',') };
}

/** Starts a detached background process that outlives this probe unless the sandbox kills it. */
async function attemptOrphan(a: Extract<ProbeAction, { kind: 'orphan' }>): Promise<Attempt> {
  try {
    const child = spawn(process.execPath, [process.argv[1], '--heartbeat', a.heartbeat, a.stop], {
      detached: true,
      stdio: 'ignore',
      windowsHide: true,
    });
    child.unref();
    for (let waited = 0; waited < 10_000; waited += 50) {
      if (fs.existsSync(a.heartbeat)) return { ok: true, value: `pid ${child.pid} (inside the sandbox)` };
      await new Promise((r) => setTimeout(r, 50));
    }
    return { ok: false, code: 'NO_HEARTBEAT', message: 'the background process never wrote its heartbeat' };
  } catch (e) {
    return errorFact(e);
  }
}

async function attempt(a: ProbeAction): Promise<Attempt> {
  switch (a.kind) {
    case 'write':
      return attemptWrite(a);
    case 'write-temp':
      return attemptTempWrite(a);
    case 'read':
      return attemptRead(a);
    case 'tcp':
      return attemptConnect({ host: a.host, port: a.port }, a.nonce);
    case 'unix':
      return attemptConnect({ path: a.path }, a.nonce);
    case 'dns':
      return attemptDns(a);
    case 'proxy':
      return attemptProxy(a);
    case 'env':
      return attemptEnv(a);
    case 'orphan':
      return attemptOrphan(a);
  }
}

async function runSpec(spec: ProbeSpec): Promise<void> {
  for (const a of spec.actions) {
    let r: Attempt;
    try {
      r = await attempt(a);
    } catch (e) {
      r = errorFact(e, 'PROBE_');
    }
    process.stdout.write(`${PROBE_PREFIX}${JSON.stringify({ id: a.id, ...r })}\n`);
  }
}

/** The background process: writes a counter every HEARTBEAT_MS until told to stop or its lifetime ends. */
function heartbeat(file: string, stop: string): void {
  let n = 0;
  const started = Date.now();
  const beat = () => {
    if (fs.existsSync(stop) || Date.now() - started > HEARTBEAT_LIFETIME_MS) process.exit(0);
    try {
      fs.writeFileSync(file, String(++n));
    } catch {
      process.exit(0);
    }
  };
  beat();
  setInterval(beat, HEARTBEAT_MS);
}

function main(argv: string[]): void {
  if (argv[0] === '--heartbeat') return heartbeat(argv[1], argv[2]);
  const spec = JSON.parse(Buffer.from(argv[0] ?? '', 'base64').toString('utf8')) as ProbeSpec;
  runSpec(spec).then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`probe: ${String(e)}\n`);
      process.exit(3);
    },
  );
}

main(process.argv.slice(2));
