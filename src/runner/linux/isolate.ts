/**
 * Keeps the commands of one broker apart. A broker serves many commands (a VS Code session, or many CLI calls), so
 * a command must not outlive its end, timeout or cancel, nor reach another command. Each brokered command:
 * - is started from its own worker thread (never reused) that entered a fresh nested Landlock domain before the
 *   command existed (Landlock domains live in a thread's credentials, and fork copies the calling thread's). A
 *   couple of such threads are kept started ahead, so a command waits neither for a thread nor for koffi. Sibling
 *   domains cannot ptrace each other, so
 *   no command can read another's /proc/PID/environ, open its /proc/PID/fd (its stdout) or mem, or pidfd_getfd
 *   from it, nor reach the runner (an ancestor domain); with Landlock ABI 6+ signals are scoped the same way;
 * - runs in its own PID namespace (util-linux `unshare` in a new user namespace) under a tiny `sh` init: when the command ends, or its group is killed at timeout or cancel, the
 *   init exits and the kernel kills everything left in the namespace, including daemons that called setsid() and
 *   cleared their marker variable. Kills and pidfds name processes in the caller's own namespace only.
 * The new user namespace maps no ids (writing /proc/self/uid_map is a write Landlock refuses), so inside it the
 * command sees its own uid and gid as the overflow ids (65534, "nobody"): access checks still use its real ids,
 * and files it creates are owned by the user as usual; only `id`-style output differs from a cold command.
 * Must never start a brokered command without both: `checkIsolation` fails the broker instead.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { restrictSelf } from '../../../native-bindings/linux/landlock';
import { startCommand, type Ended } from './command';
import type { CommandRequest, RunnerSandbox } from '../../protocol/linux';

const UNSHARE_CANDIDATES = ['/usr/bin/unshare', '/bin/unshare'];
const UNSHARE_FLAGS = ['--user', '--pid', '--fork', '--kill-child'];
/**
 * The namespace's init: runs the command in the background with the original stdin (a non-interactive shell
 * would give a background job /dev/null), waits for it and exits with its status. Not being PID 1 itself, the
 * command keeps ordinary signal semantics (a script can still `kill $$`).
 */
const INIT = 'exec 3<&0; "$@" <&3 3<&- & exec 3<&-; wait $!';

function unsharePath(): string | undefined {
  return UNSHARE_CANDIDATES.find((p) => fs.existsSync(p));
}

/** `argv` wrapped so that it runs as the only child of a fresh PID namespace's init. */
export function isolatedArgv(unshare: string, argv: string[]): string[] {
  return [unshare, ...UNSHARE_FLAGS, '--', '/bin/sh', '-c', INIT, 'sh', ...argv];
}

/** Why brokered commands cannot be isolated here, or undefined when they can (tried for real, once). */
export function checkIsolation(): string | undefined {
  const unshare = unsharePath();
  if (!unshare) return 'util-linux unshare was not found in /usr/bin or /bin';
  const r = spawnSync(unshare, [...UNSHARE_FLAGS, '--', '/bin/sh', '-c', 'test $$ = 1'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.status === 0) return undefined;
  return `a command could not get its own PID namespace (unshare: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()})`;
}

export interface Isolated {
  /** PID (in the runner's namespace) of the command's `unshare`, leader of its process group. */
  pid: number | undefined;
  ended: Promise<Ended>;
}

/** What a spare worker is started with: it enters its command's Landlock domain before any command exists. */
interface Boot {
  agentSandboxIsolate: true;
  sandbox: RunnerSandbox;
  landlockAbi: number;
}

interface Job {
  req: CommandRequest;
  fds: number[];
  unshare: string;
  /** The worker names its thread (`tid`) and waits for the host to move it into the command's cgroup. */
  place: boolean;
}

/** Moves the runner thread `tid` (as the runner sees it) into the command's cgroup; resolves with why not, if not. */
export type Place = (tid: number) => Promise<string | undefined>;

type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'tid'; tid: number }
  | { type: 'started'; pid: number | undefined }
  | { type: 'exit'; end: Ended };

/**
 * Starts `req` isolated, on the descriptors `fds` (stdin, stdout, stderr; the caller keeps and closes its own
 * copies once `started` resolves). Resolves once the command's process exists.
 */
export function spawnIsolated(req: CommandRequest, fds: number[], place?: Place): Promise<Isolated> {
  const unshare = unsharePath();
  if (!unshare) return Promise.resolve({ pid: undefined, ended: Promise.resolve({ code: 126 }) });
  const spare = takeSpare();
  spare.worker.postMessage({ req, fds, unshare, place: !!place } satisfies Job);
  return new Promise((resolve) => {
    let done!: (e: Ended) => void;
    const ended = new Promise<Ended>((r) => (done = r));
    let started = false;
    let finished = false;
    const failed = (why: string) => {
      if (finished) return;
      finished = true;
      if (!started)
        fs.writeSync(fds[2], `agent-sandbox: the command could not be isolated (${why}); nothing was run.\n`);
      done({ code: 125 });
      if (!started) resolve({ pid: undefined, ended });
    };
    spare.onMessage = (m) => {
      if (m.type === 'tid') {
        void place!(m.tid).then((error) => spare.worker.postMessage({ error }));
      } else if (m.type === 'started') {
        started = true;
        resolve({ pid: m.pid, ended });
        setImmediate(refill); // the command runs: start the next spare behind it
      } else if (m.type === 'exit') {
        finished = true;
        done(m.end);
      } else if (m.type === 'failed') failed(m.message);
    };
    spare.onEnd = failed;
    if (spare.failure) failed(spare.failure);
  });
}

/** How many workers are kept started ahead, each already in its own domain and waiting for its command. */
const SPARES = 2;

/**
 * A worker started ahead. Its one message listener, attached at creation and never removed, hands each message to
 * whoever holds it: the pool until a command takes it, then that command.
 */
interface Spare {
  worker: Worker;
  ready: boolean;
  /** Why it can serve no command (its domain could not be entered, or its thread ended), if so. */
  failure?: string;
  onMessage: (m: FromWorker) => void;
  onEnd: (why: string) => void;
}

let boot: Boot | undefined;
const pool: Spare[] = [];

/** Starts the pool for this broker's sandbox (each spare enters a domain nested in it). */
export function startSpares(sandbox: RunnerSandbox, landlockAbi: number): void {
  boot = { agentSandboxIsolate: true, sandbox, landlockAbi };
  refill();
}

/**
 * Tops the pool up, one worker at a time (the next starts once the last is ready), so refilling never starts
 * several threads at once on the CPU the commands need.
 */
function refill(): void {
  if (!boot || pool.length >= SPARES || pool.some((s) => !s.ready)) return;
  pool.push(startSpare(boot));
}

/** A ready spare when there is one (the usual case), else one still starting, else a new one. */
function takeSpare(): Spare {
  const at = pool.findIndex((s) => s.ready && !s.failure);
  const usable = at === -1 ? pool.findIndex((s) => !s.failure) : at;
  const spare = usable === -1 ? startSpare(boot!) : pool.splice(usable, 1)[0];
  for (let i = pool.length - 1; i >= 0; i--) if (pool[i].failure) pool.splice(i, 1);
  spare.worker.ref(); // held while its command runs; spares alone must not keep the runner alive
  return spare;
}

function startSpare(b: Boot): Spare {
  const worker = new Worker(__filename, { workerData: b, stdout: false, stderr: false });
  const spare: Spare = {
    worker,
    ready: false,
    onMessage: (m) => {
      if (m.type === 'failed') spare.failure = m.message;
      spare.ready = m.type === 'ready';
      if (spare.ready) setImmediate(refill);
    },
    onEnd: (why) => (spare.failure = why),
  };
  worker.on('message', (m: FromWorker) => spare.onMessage(m));
  worker.once('error', (e) => spare.onEnd(e.message));
  worker.once('exit', () => spare.onEnd('its thread ended early'));
  worker.unref();
  return spare;
}

/** The worker side, at start: load koffi and enter a fresh Landlock domain nested in the runner's. */
function enterOwnDomain(b: Boot): void {
  const s = b.sandbox;
  if (!s.confined || b.landlockAbi < 1) return;
  restrictSelf(
    {
      writablePaths: s.writablePaths,
      denyTcp: s.denyTcp,
      connectTcpPorts: s.connectTcpPorts,
      scope: true,
      denyRead: s.denyRead,
    },
    b.landlockAbi,
  );
}

/** The worker side, for its one command: start it from this thread (fork copies this thread's domain). */
function runJob(job: Job, post: (m: FromWorker) => void): void {
  const { child, ended } = startCommand(
    { ...job.req, argv: isolatedArgv(job.unshare, job.req.argv) },
    job.fds,
    true,
    (s) => fs.writeSync(job.fds[2], s),
  );
  post({ type: 'started', pid: (child as ChildProcess | undefined)?.pid });
  void ended.then((end) => post({ type: 'exit', end }));
}

if (!isMainThread && (workerData as Boot | undefined)?.agentSandboxIsolate) {
  const port = parentPort!;
  const post = (m: FromWorker) => port.postMessage(m);
  try {
    enterOwnDomain(workerData as Boot);
    port.once('message', (job: Job) => {
      if (!job.place) return runJob(job, post);
      // This thread forks the command, so the command is born in the cgroup this thread is moved into.
      post({ type: 'tid', tid: Number(fs.readlinkSync('/proc/thread-self').split('/').pop()) });
      port.once('message', (go: { error?: string }) =>
        go.error ? post({ type: 'failed', message: `its own cgroup: ${go.error}` }) : runJob(job, post),
      );
    });
    post({ type: 'ready' });
  } catch (e) {
    post({ type: 'failed', message: `its Landlock domain: ${(e as Error).message}` });
  }
}
