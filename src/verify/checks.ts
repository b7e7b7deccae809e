/**
 * The battery: for one compiled plan and one fixture, every check with its expectation (derived from the plan,
 * never from the observed result), the probe action that attempts it, and how the host side confirms it. Must
 * never compute an expectation from a weakened (test-hole) plan.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isProtected, isWithin } from '../policy';
import type { Plan } from '../policy/plan';
import type { Enforcement } from '../sandbox/types';
import type { Category, CheckDef, HostSide } from './classify';
import type { Fixture } from './fixtures';
import type { Listeners, TcpEndpoint } from './listeners';
import type { Expected, ProbeAction } from './types';
import type { NetworkDenial } from '../network/proxy';

export interface PlannedCheck {
  def: CheckDef;
  expected: Expected;
  /** Absent when the check could not be set up; `host()` then says why. */
  action?: ProbeAction;
  /** What the host side saw; asked after the sandboxed probe exited. */
  host(): HostSide | Promise<HostSide>;
}

export interface Endpoints {
  loopback: TcpEndpoint;
  lan?: TcpEndpoint;
  dns: TcpEndpoint;
  /** Linux: the verifier's socket in its stand-in runtime folder, which the plan hides. */
  unix?: { path: string };
  /** Endpoints that did not answer a connection from outside the sandbox. */
  broken: Set<string>;
}

export interface BatteryInput {
  plan: Plan;
  fx: Fixture;
  listeners: Listeners;
  endpoints: Endpoints;
  home: string;
  systemDir: string;
  /** Allowlist: the proxy's refusals for the probe's command (complete once the probe exited). */
  proxyDenials?: () => NetworkDenial[];
}

/** Allowlist: the verifier's one-off names, answered by the proxy's resolver with its loopback listener. */
export function verifyNames(nonce: string): { allowed: string; denied: string; private: string } {
  const n = (what: string) => `${what}-${nonce}.verify.agent-sandbox.test`;
  return { allowed: n('allowed'), denied: n('denied'), private: n('private') };
}

export const SECRET_ENV = 'AGENT_SANDBOX_VERIFY_SECRET_TOKEN';

/** Whether a file carrying this run's nonce is at `p` on the host. */
export function landedFile(p: string, nonce: string): boolean {
  try {
    return fs.readFileSync(p, 'utf8').includes(nonce);
  } catch {
    return false;
  }
}

function writeExpected(plan: Plan, p: string): Expected {
  const writable = plan.writableRoots.some((r) => isWithin(plan.platform, r, p));
  return writable && !isProtected(plan.platform, plan.protectedPaths, p) ? 'SUCCEEDED' : 'DENIED';
}

export function buildBattery(b: BatteryInput): PlannedCheck[] {
  return [
    ...writeChecks(b),
    ...protectedChecks(b),
    linkCheck(b),
    denyReadCheck(b),
    ...networkChecks(b),
    ...allowlistChecks(b),
    ...hostSocketChecks(b),
    envCheck(b),
    orphanCheck(b),
  ];
}

function fileWrite(b: BatteryInput, def: CheckDef, target: string, anchor: string): PlannedCheck {
  const { fx } = b;
  return {
    def,
    expected: writeExpected(b.plan, target),
    action: { id: def.id, kind: 'write', path: fx.stray(target), anchor, content: fx.nonce },
    host: () => ({ landed: landedFile(target, fx.nonce), detail: target }),
  };
}

function writeChecks(b: BatteryInput): PlannedCheck[] {
  const { fx, plan } = b;
  const tempTarget = fx.stray(path.join(plan.tempDir, fx.fileName));
  const def = (id: string, title: string, held: string, broken: string, invisibleMeansDenied = false): CheckDef => ({
    id,
    title,
    kind: 'write',
    category: 'filesystem',
    held,
    broken,
    invisibleMeansDenied,
  });
  return [
    fileWrite(
      b,
      def(
        'write-workspace',
        'Write in the workspace',
        'Commands can write in the workspace.',
        'Commands cannot write in the workspace, so the sandbox is unusable.',
      ),
      path.join(fx.workspace, fx.fileName),
      fx.workspace,
    ),
    {
      def: def(
        'write-sandbox-temp',
        'Write in the sandbox temp folder',
        'Commands get a private temp folder they can write.',
        'Commands cannot write their private temp folder.',
      ),
      expected: 'SUCCEEDED',
      action: { id: 'write-sandbox-temp', kind: 'write-temp', name: fx.fileName, content: fx.nonce },
      host: () => ({ landed: landedFile(tempTarget, fx.nonce), detail: tempTarget }),
    },
    fileWrite(
      b,
      def(
        'write-home',
        'Write in your home folder',
        'Commands cannot change files in your home folder.',
        'A command could write in your home folder.',
      ),
      path.join(b.home, fx.fileName),
      b.home,
    ),
    fileWrite(
      b,
      def(
        'write-user-temp',
        'Write in your real temp folder',
        'Commands cannot write in your real temp folder.',
        'A command could write in your real temp folder.',
        true,
      ),
      path.join(fx.realTemp, fx.fileName),
      fx.realTemp,
    ),
    fileWrite(
      b,
      def(
        'write-system',
        `Write in a system folder (${b.systemDir})`,
        'Commands cannot write in system folders.',
        'A command could write in a system folder.',
      ),
      path.join(b.systemDir, fx.fileName),
      b.systemDir,
    ),
  ];
}

/** One check per protected path of the tested workspace, in the state it was in before the run. */
function protectedChecks(b: BatteryInput): PlannedCheck[] {
  const { fx, plan } = b;
  return plan.protectedPaths
    .filter((pp) => pp.root === fx.workspace)
    .map((pp) => {
      const rel = path.relative(fx.workspace, pp.path).split(path.sep).join('/');
      const st = fs.statSync(pp.path, { throwIfNoEntry: false });
      const state = st ? (st.isDirectory() ? 'exists' : 'existing file') : 'missing before the run';
      const def: CheckDef = {
        id: `protected-${rel}`,
        title: `Write to ${rel} (protected; ${state})`,
        kind: 'write',
        category: 'filesystem',
        held: `Commands cannot change ${rel}, so they cannot plant code that runs outside the sandbox.`,
        broken: `A command could change ${rel}, which can get code run outside the sandbox.`,
      };
      const base = { id: def.id, kind: 'write' as const, content: fx.nonce };
      if (st && !st.isDirectory()) {
        // Open for writing without writing: proves the permission without touching the user's file.
        return {
          def,
          expected: 'DENIED',
          action: { ...base, path: pp.path, anchor: pp.path, openOnly: true },
          host: () => ({}),
        };
      }
      const target = st || pp.kind === 'dir' ? path.join(pp.path, fx.fileName) : pp.path;
      if (!st) missingAncestors(fx.workspace, pp.path).forEach((p) => fx.mayCreate(p));
      return {
        def,
        expected: 'DENIED',
        // A missing file-like path may get an empty placeholder from the sandbox: then it is opened, not replaced.
        action: {
          ...base,
          path: fx.stray(target),
          anchor: st ? pp.path : fx.workspace,
          mkdirParent: !st,
          openIfExists: true,
        },
        // Only a file carrying our nonce proves a write; a placeholder the sandbox made proves nothing either way.
        host: () => ({ landed: landedFile(target, fx.nonce) || undefined, detail: target }),
      };
    });
}

/** The folders from just below `root` down to `p`, outermost first. */
function missingAncestors(root: string, p: string): string[] {
  const out: string[] = [];
  for (let q = p; q !== root && path.dirname(q) !== q; q = path.dirname(q)) out.unshift(q);
  return out;
}

function linkCheck(b: BatteryInput): PlannedCheck {
  const { fx } = b;
  const def: CheckDef = {
    id: 'write-symlink',
    title: `Write through a ${process.platform === 'win32' ? 'junction' : 'symlink'} in the workspace that points outside`,
    kind: 'write',
    category: 'filesystem',
    held: 'A link inside the workspace does not let commands write outside it.',
    broken: 'A command could write outside the workspace through a link.',
  };
  const outsideTarget = path.join(fx.linkTarget, fx.fileName);
  if (fx.linkError)
    return { def, expected: 'DENIED', host: () => ({ unusable: `the link could not be created: ${fx.linkError}` }) };
  return {
    def,
    expected: writeExpected(b.plan, outsideTarget),
    action: { id: def.id, kind: 'write', path: path.join(fx.link, fx.fileName), anchor: fx.link, content: fx.nonce },
    host: () => ({ landed: landedFile(outsideTarget, fx.nonce), detail: outsideTarget }),
  };
}

function denyReadCheck(b: BatteryInput): PlannedCheck {
  const { fx } = b;
  return {
    def: {
      id: 'deny-read',
      title: 'Read a credential file listed in denyRead',
      kind: 'read',
      category: 'deny-read',
      held: 'Commands cannot read credential files listed in denyRead (like ~/.ssh).',
      broken: 'A command could read a credential file listed in denyRead.',
    },
    expected: 'DENIED',
    action: { id: 'deny-read', kind: 'read', path: fx.secretFile, anchor: fx.secretAnchor, nonce: fx.nonce },
    host: () => ({ detail: fx.secretFile }),
  };
}

function networkChecks(b: BatteryInput): PlannedCheck[] {
  const { fx, plan, endpoints: ep, listeners } = b;
  // Linux online (without allowHostLoopback) has its own network: the host's 127.0.0.1 stays out of reach.
  const ownNet = plan.platform === 'linux' && plan.userNet !== undefined;
  const reaches = (host: string) => plan.network === 'online' && !(ownNet && host.startsWith('127.'));
  const netDef = (id: string, what: string, title: string, host: string): CheckDef => {
    const online = reaches(host);
    const mode = plan.network === 'online' ? 'Online mode (own network, no host loopback)' : 'Offline mode';
    return {
      id,
      title,
      kind: 'network',
      category: 'network',
      held: online ? `Online mode: commands can reach ${what}.` : `${mode}: commands cannot reach ${what}.`,
      broken: online
        ? `Online mode, yet commands cannot reach ${what}.`
        : `${mode}, yet a command could reach ${what}.`,
    };
  };
  const tcp = (id: string, e: TcpEndpoint, what: string): PlannedCheck => {
    const nonce = `${fx.nonce}-${id}`;
    const key = `${e.host}:${e.port}`;
    return {
      def: netDef(id, what, `TCP connect to a listener on ${e.host}`, e.host),
      expected: reaches(e.host) ? 'SUCCEEDED' : 'DENIED',
      action: { id, kind: 'tcp', host: e.host, port: e.port, nonce },
      host: () =>
        ep.broken.has(key)
          ? { unusable: `the listener on ${key} did not answer from outside the sandbox either` }
          : { landed: listeners.tcpSeen.get(e.host)?.has(nonce) ?? false, detail: key },
    };
  };
  const name = `${fx.nonce}.verify.agent-sandbox.test`;
  const dnsKey = `${ep.dns.host}:${ep.dns.port}`;
  const checks = [tcp('net-loopback', ep.loopback, 'services on this machine (127.0.0.1)')];
  if (ep.lan) checks.push(tcp('net-lan', ep.lan, `this machine's network address (${ep.lan.host})`));
  checks.push({
    def: {
      ...netDef('net-dns', 'a DNS resolver', 'DNS lookup through a resolver outside the sandbox', ep.dns.host),
      ...(plan.network === 'offline'
        ? { held: 'Offline mode: commands cannot send DNS queries (a common way to leak data).' }
        : reaches(ep.dns.host)
          ? { held: 'Online mode: DNS lookups work.' }
          : {}),
    },
    expected: reaches(ep.dns.host) ? 'SUCCEEDED' : 'DENIED',
    action: { id: 'net-dns', kind: 'dns', server: ep.dns.host, port: ep.dns.port, name },
    host: () =>
      ep.broken.has(dnsKey)
        ? { unusable: `the resolver on ${dnsKey} did not answer from outside the sandbox either` }
        : { landed: listeners.dnsSeen.has(name), detail: `query for ${name} to ${dnsKey}` },
  });
  return checks;
}

/**
 * Allowlist mode, each confirmed at the verifier's listener: an allowed name is reachable through the proxy; a
 * name not allowed is refused and in the denial log; a name that resolves to a private address is refused; a
 * connection to the proxy without the command's credential is refused. (Direct TCP and DNS are the network checks
 * above, expected DENIED.)
 */
function allowlistChecks(b: BatteryInput): PlannedCheck[] {
  const { fx, plan, endpoints: ep, listeners } = b;
  if (plan.network !== 'allowlist') return [];
  const names = verifyNames(fx.nonce);
  const key = `${ep.loopback.host}:${ep.loopback.port}`;
  const seen = (nonce: string) => listeners.tcpSeen.get(ep.loopback.host)?.has(nonce) ?? false;
  const logged = (host: string) =>
    (b.proxyDenials?.() ?? []).some((d) => d.host === host || (host === '' && d.reason === 'no-credential'));
  const check = (
    id: string,
    title: string,
    held: string,
    broken: string,
    host: string,
    credential: boolean,
    expected: Expected,
    mustLog: string | undefined,
  ): PlannedCheck => {
    const nonce = `${fx.nonce}-${id}`;
    return {
      def: { id, title, kind: 'network', category: 'network', held, broken },
      expected,
      action: { id, kind: 'proxy', host, port: ep.loopback.port, nonce, credential },
      host: () => {
        if (ep.broken.has(key))
          return { unusable: `the listener on ${key} did not answer from outside the sandbox either` };
        const landed = seen(nonce);
        if (!landed && mustLog !== undefined && !logged(mustLog))
          return { unusable: 'refused, but the refusal is not in the denial log' };
        return {
          landed,
          detail: `${host}:${ep.loopback.port} through the proxy${!landed && mustLog !== undefined ? '; logged' : ''}`,
        };
      },
    };
  };
  return [
    check(
      'allow-reachable',
      'An allowed name, through the proxy',
      'Commands reach allowed names through the proxy.',
      'An allowed name could not be reached through the proxy, so the allowlist mode is unusable.',
      names.allowed,
      true,
      'SUCCEEDED',
      undefined,
    ),
    check(
      'allow-refused',
      'A name not in the allowlist, through the proxy',
      'Names outside the allowlist are refused and logged.',
      'A name outside the allowlist got through the proxy.',
      names.denied,
      true,
      'DENIED',
      names.denied,
    ),
    check(
      'allow-private',
      'An allowed name that resolves to a loopback address (DNS rebinding)',
      'A name that resolves to a private or loopback address is refused unless that address is allowed literally.',
      'An allowed name resolving to a private address got through (DNS rebinding).',
      names.private,
      true,
      'DENIED',
      names.private,
    ),
    check(
      'allow-no-credential',
      "The proxy, used without the command's credential",
      'Only the command holding the credential can use the proxy.',
      'A connection without the credential got through the proxy.',
      names.allowed,
      false,
      'DENIED',
      '',
    ),
  ];
}

/**
 * Linux: a Unix socket in the session's runtime folder (where the session bus, keyrings and agents listen) cannot
 * be reached, in either network mode: the daemon behind a socket acts with its own rights and network. The
 * verifier's own runtime folder stands in for the session's, and its listener tells whether the probe got through.
 */
function hostSocketChecks(b: BatteryInput): PlannedCheck[] {
  const { fx, plan, endpoints: ep, listeners } = b;
  if (plan.platform !== 'linux' || !ep.unix) return [];
  const socket = ep.unix.path;
  const nonce = `${fx.nonce}-host-socket`;
  return [
    {
      def: {
        id: 'host-socket',
        title: 'Connect to a Unix socket in the session runtime folder ($XDG_RUNTIME_DIR)',
        kind: 'network',
        category: 'host-socket',
        held: 'Commands cannot reach sockets in the session runtime folder (session bus, keyrings, agents).',
        broken: 'A command could talk to a daemon through a socket in the session runtime folder.',
      },
      expected: 'DENIED',
      action: { id: 'host-socket', kind: 'unix', path: socket, nonce },
      host: () =>
        ep.broken.has(socket)
          ? { unusable: `the socket ${socket} did not answer from outside the sandbox either` }
          : { landed: listeners.unixSeen.has(nonce), detail: socket },
    },
  ];
}

function envCheck(b: BatteryInput): PlannedCheck {
  return {
    def: {
      id: 'secret-env',
      title: `Secret environment variable (${SECRET_ENV}) set outside`,
      kind: 'env',
      category: 'env',
      held: 'Secret environment variables (like *_TOKEN) are removed before commands run.',
      broken: 'A secret environment variable reached the command.',
    },
    expected: 'DENIED',
    action: { id: 'secret-env', kind: 'env', nonce: b.fx.nonce },
    host: () => ({}),
  };
}

const HEARTBEAT_GRACE_MS = 500;
const HEARTBEAT_WATCH_MS = 1200;

function orphanCheck(b: BatteryInput): PlannedCheck {
  const { fx } = b;
  return {
    def: {
      id: 'orphan-killed',
      title: 'A background process left running when the command ends',
      kind: 'orphan',
      category: 'process',
      held: 'Background processes die when the command ends.',
      broken: 'A background process kept running after the command ended.',
    },
    expected: 'DENIED',
    action: { id: 'orphan-killed', kind: 'orphan', heartbeat: fx.heartbeat, stop: fx.stop },
    host: () => heartbeatAfterExit(fx.heartbeat),
  };
}

async function heartbeatAfterExit(file: string): Promise<HostSide> {
  const read = () => fs.readFileSync(file, 'utf8');
  await sleep(HEARTBEAT_GRACE_MS);
  let first: string;
  try {
    first = read();
  } catch {
    return { detail: 'no heartbeat file on the host' };
  }
  await sleep(HEARTBEAT_WATCH_MS);
  const second = read();
  return second === first
    ? { landed: false, detail: `the heartbeat stopped at beat ${first}` }
    : { landed: true, detail: `the heartbeat went on from beat ${first} to ${second} after the command ended` };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Categories the plan or backend declares unenforced in this mode (rows there become NOT_ENFORCED). */
export function enforcementGaps(plan: Plan, enforcement: Enforcement | undefined): Set<Category> {
  const gaps = new Set<Category>();
  if (enforcement && (enforcement.filesystem === 'advisory' || enforcement.filesystem === 'none'))
    gaps.add('filesystem');
  if (plan.network !== 'online' && enforcement && enforcement.network !== 'enforced') gaps.add('network');
  if (plan.platform === 'win32') {
    if (plan.windowsMode === 'unelevated') gaps.add('deny-read');
    if (plan.network !== 'online' && plan.networkEnforcement !== 'firewall') gaps.add('network');
  }
  return gaps;
}

/** Paths the sandbox itself creates before a command runs (kept by cleanup). */
export function sandboxMadePaths(plan: Plan): Set<string> {
  return new Set(
    plan.platform === 'linux'
      ? plan.placeholders.map((p) => p.path)
      : plan.acl.filter((a) => a.createIfMissing).map((a) => a.path),
  );
}
