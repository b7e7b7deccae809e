/**
 * What the CLI's warm path, its broker daemon and the Linux lifecycle (which stops brokers on uninstall) share, kept free of heavy imports because the launcher
 * (`dist/cli.js`) uses it before the CLI bundle is loaded: where brokers listen, the checks made on every
 * connect, which calls may go warm, the key that finds a broker for a call's inputs, and the frame format.
 *
 * Brokers listen on Unix sockets in `/tmp/agent-sandbox-<uid>/`, a folder only the user can open (owner and mode
 * are checked by both ends on every connect; a folder someone else made first is never used). Inside every
 * sandbox the host's /tmp is replaced by the sandbox's private temp, so no sandboxed command can reach a broker's
 * socket; the daemon also refuses plans whose folders would bring that folder back into view. Must never accept
 * a folder or socket another user could have made or changed.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';

export const WARM_PROTOCOL = 3; // 2: the exit frame carries the nested-repository report; 3: the fast client's descriptors
/** The hidden subcommand that is the broker's own process, and the variable that hands it its inputs. */
export const DAEMON_COMMAND = '__broker-daemon';
export const SPEC_ENV = 'AGENT_SANDBOX_BROKER_SPEC';

export interface DaemonSpec {
  key: string;
  policyArgs: string[];
}

/**
 * The user's broker folder. Windows: `%LOCALAPPDATA%\agent-sandbox\brokers`, the user's own profile folder (its
 * records only; the brokers listen on named pipes), checked for owner and DACL by the Windows channel.
 */
export function brokerDir(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === 'win32') {
    const local = env.LOCALAPPDATA ?? path.win32.join(env.USERPROFILE ?? 'C:\\', 'AppData', 'Local');
    return path.win32.join(local, 'agent-sandbox', 'brokers');
  }
  return `/tmp/agent-sandbox-${process.getuid?.() ?? 'x'}`;
}

/** Why `dir` is not a folder only this user can open, or undefined when it is. */
export function unsafeDir(dir: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message;
  }
  if (!st.isDirectory()) return `${dir} is not a folder`;
  if (st.uid !== process.getuid?.()) return `${dir} belongs to uid ${st.uid}`;
  if (st.mode & 0o077) return `${dir} can be opened by other users (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/** Why `sock` is not a socket of this user's, or undefined. */
export function unsafeSocket(sock: string): string | undefined {
  try {
    const st = fs.lstatSync(sock);
    if (!st.isSocket()) return `${sock} is not a socket`;
    if (st.uid !== process.getuid?.()) return `${sock} belongs to uid ${st.uid}`;
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export function socketPath(dir: string, key: string): string {
  return path.join(dir, `${key}.sock`);
}

export function infoPath(dir: string, key: string): string {
  return path.join(dir, `${key}.json`);
}

/** Where a broker that has not started listening yet says so (JSON `{ stateDir }`). */
export function bootPath(dir: string, pid: number): string {
  return path.join(dir, `boot-${pid}`);
}

/** What a broker writes beside its socket (mode 0600). */
export interface BrokerInfo {
  pid: number;
  key: string;
  planHash: string;
  stateDir: string;
  workspaceRoots: string[];
  network: string;
  started: string;
}

/** What a broker answers a status query with (and a stop, just before it exits). */
export interface BrokerStatus extends BrokerInfo {
  served: number;
  active: number;
  idleSeconds: number;
  idleLimitSeconds: number;
}

/** A broker as `broker status` lists it. */
export interface Listed {
  key: string;
  status?: BrokerStatus;
  /** Why the broker did not answer (its files were then removed). */
  stale?: string;
}

/** A `run` call split up: the policy options (which pick the broker), its own options, the command. */
export interface RunCall {
  policyArgs: string[];
  timeoutMs?: number;
  command: string[];
}

const POLICY_VALUE_FLAGS = new Set(['--workspace', '--write', '--network', '--protect', '--policy-file']);

/**
 * The `run` call in `argv` when it may go to a warm broker: Linux or Windows, the broker not turned off, no terminal on
 * stdio and no `--tty` (a brokered command's stdio is relayed, so it could not be the caller's terminal), and
 * only options this parser understands (anything else goes cold, which reports it properly).
 */
export function warmCall(
  argv: string[],
  env: NodeJS.ProcessEnv,
  isTty: (fd: number) => boolean,
  platform: NodeJS.Platform = process.platform,
): RunCall | undefined {
  if (argv[0] !== 'run' || (platform !== 'linux' && platform !== 'win32') || env.AGENT_SANDBOX_BROKER === '0')
    return undefined;
  const dash = argv.indexOf('--');
  if (dash === -1 || dash === argv.length - 1) return undefined;
  if ([0, 1, 2].some(isTty)) return undefined;
  const policyArgs: string[] = [];
  let timeoutMs: number | undefined;
  for (let i = 1; i < dash; i++) {
    const eq = argv[i].indexOf('=');
    const [flag, inline] =
      argv[i].startsWith('--') && eq > 0 ? [argv[i].slice(0, eq), argv[i].slice(eq + 1)] : [argv[i], undefined];
    const value = () => inline ?? (i + 1 < dash ? argv[++i] : undefined);
    if ((flag === '--read-only' || flag === '--strict') && inline === undefined) policyArgs.push(flag);
    else if (flag === '--platform') {
      if (value() !== platform) return undefined;
    } else if (flag === '--timeout') {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) return undefined;
      timeoutMs = n * 1000;
    } else if (POLICY_VALUE_FLAGS.has(flag)) {
      const v = value();
      if (v === undefined) return undefined;
      policyArgs.push(flag, v);
    } else return undefined;
  }
  return { policyArgs, timeoutMs, command: argv.slice(dash + 1) };
}

/**
 * Environment variables the plan is compiled from (besides the names it scrubs, which are re-checked per call, and
 * `%VAR%` in a policy's denyRead, which the broker's per-call compile catches): the git surface reads
 * XDG_CONFIG_HOME and GIT_CONFIG_GLOBAL to find the global git config.
 */
const PLAN_ENV = [
  'HOME',
  'TMPDIR',
  'XDG_RUNTIME_DIR',
  'SSH_AUTH_SOCK',
  'XDG_STATE_HOME',
  'XDG_CONFIG_HOME',
  'GIT_CONFIG_GLOBAL',
  'AGENT_SANDBOX_STATE_DIR',
  'AGENT_SANDBOX_BWRAP',
  'AGENT_SANDBOX_BROKER_IDLE',
  // Windows: the profile folders the plan protects and the sandbox's temp is made under
  'USERPROFILE',
  'LOCALAPPDATA',
  'APPDATA',
];

/**
 * The key that finds a broker for a call: everything the plan is compiled from, cheaply. The policy file and the
 * CLI bundle enter by identity and modification time, so editing one or reinstalling makes a new key (the old
 * broker notices its plan changed and exits). The broker still compiles each call's policy and serves it only
 * when the plan is the one it enforces.
 *
 * The fast client (src/cli/warm/fast-client.py) computes the same key in Python, so its derivation stays plain:
 * the SHA-256 of NUL-separated fields (no field can hold a NUL: they are arguments, variables, paths and numbers),
 * stamps as `dev:ino:size:mtimeNs` integers, a variable as `=value` or `-` when unset. Change both together.
 */
export function inputKey(policyArgs: string[], cwd: string, env: NodeJS.ProcessEnv, bundle: string): string {
  const stamp = (p: string) => {
    try {
      const st = fs.statSync(path.resolve(cwd, p), { bigint: true });
      return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
    } catch {
      return 'missing';
    }
  };
  const file = policyArgs[policyArgs.indexOf('--policy-file') + 1];
  // The folder the call is made from is the workspace unless --workspace names it; with every path absolute, runs
  // from any folder share one broker (each command still runs in its caller's folder).
  const paths = policyArgs.filter(
    (_, i) => i > 0 && ['--workspace', '--write', '--policy-file'].includes(policyArgs[i - 1]),
  );
  const cwdFree =
    policyArgs.includes('--workspace') &&
    !policyArgs.includes('--policy-file') &&
    paths.every((p) => path.isAbsolute(p));
  const fields = [
    `v${WARM_PROTOCOL}`,
    String(process.getuid?.() ?? 'x'),
    stamp(bundle),
    cwdFree ? '-' : `=${cwd}`,
    policyArgs.includes('--policy-file') ? stamp(file) : '-',
    ...PLAN_ENV.map((k) => (env[k] === undefined ? '-' : `=${env[k]}`)),
    String(policyArgs.length),
    ...policyArgs,
  ];
  return createHash('sha256').update(fields.join('\0')).digest('hex').slice(0, 32);
}

/**
 * Frames: a type byte, a 32-bit big-endian length, the payload. Client to broker: H hello (JSON), I stdin, E end of
 * stdin, K cancel, Q status query, P stop. Broker to client: A accepted (JSON), R refused (JSON), O stdout, X
 * stderr, Z exit (JSON), T status (JSON), F send your descriptors (to a hello with `fds`; the fast client answers
 * with the single byte `F` carrying its stdin, stdout, stderr as SCM_RIGHTS, and no stdio frames follow).
 */
export function frame(type: string, payload: Buffer | string = ''): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head.write(type, 0, 1, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (type: string, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) return;
      const type = String.fromCharCode(this.buf[0]);
      const payload = this.buf.subarray(5, 5 + len);
      this.buf = this.buf.subarray(5 + len);
      this.onFrame(type, payload);
    }
  }
}

/** Sends `type` (Q status, P stop) on a connection to a broker and resolves its status answer, or why none came. */
export function brokerAnswer(c: Duplex, type: 'Q' | 'P', ms = 3000): Promise<BrokerStatus | string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      c.destroy();
      resolve('no answer');
    }, ms);
    const reader = new FrameReader((t, payload) => {
      clearTimeout(timer);
      c.destroy();
      resolve(t === 'T' ? (JSON.parse(payload.toString()) as BrokerStatus) : `unexpected answer ${t}`);
    });
    c.on('data', (d: Buffer) => reader.push(d));
    c.once('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
    c.once('close', () => {
      clearTimeout(timer);
      resolve('closed without an answer');
    });
    c.write(frame(type));
  });
}
