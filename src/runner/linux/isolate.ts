/**
 * Keeps the commands of one broker apart. A broker serves many commands (a VS Code session, or many CLI calls), so
 * a command must not outlive its end, timeout or cancel, nor reach another command. Each brokered command:
 * - is started from a fresh worker thread that first enters its own nested Landlock domain (Landlock domains live
 *   in a thread's credentials, and fork copies the calling thread's). Sibling domains cannot ptrace each other, so
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
import { landlockAbi, restrictSelf } from '../../../native-bindings/linux/landlock';
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

interface Job {
  req: CommandRequest;
  fds: number[];
  sandbox: RunnerSandbox;
  landlockAbi: number;
  unshare: string;
}

type FromWorker = { type: 'started'; pid: number | undefined } | { type: 'exit'; end: Ended };

/**
 * Starts `req` isolated, on the descriptors `fds` (stdin, stdout, stderr; the caller keeps and closes its own
 * copies once `started` resolves). Resolves once the command's process exists.
 */
export function spawnIsolated(
  req: CommandRequest,
  fds: number[],
  sandbox: RunnerSandbox,
  landlockAbi: number,
): Promise<Isolated> {
  const unshare = unsharePath();
  if (!unshare) return Promise.resolve({ pid: undefined, ended: Promise.resolve({ code: 126 }) });
  const job: Job = { req, fds, sandbox, landlockAbi, unshare };
  const worker = takeWorker();
  worker.postMessage(job);
  return new Promise((resolve) => {
    let done!: (e: Ended) => void;
    const ended = new Promise<Ended>((r) => (done = r));
    let started = false;
    let finished = false;
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'started') {
        started = true;
        resolve({ pid: m.pid, ended });
      } else {
        finished = true;
        done(m.end);
      }
    });
    const failed = (why: string) => {
      if (finished) return;
      finished = true;
      if (!started)
        fs.writeSync(fds[2], `agent-sandbox: the command could not be isolated (${why}); nothing was run.\n`);
      done({ code: 125 });
      if (!started) resolve({ pid: undefined, ended });
    };
    worker.once('error', (e) => failed(e.message));
    worker.once('exit', () => failed('its thread ended early'));
  });
}

let spare: { worker: Worker; dead: boolean } | undefined;

/**
 * A worker thread for the next command. One is kept started ahead (koffi already loaded in it), because starting
 * a thread costs tens of milliseconds a command would otherwise wait for; the next spare starts right away.
 */
function takeWorker(): Worker {
  const ready = spare && !spare.dead ? spare.worker : undefined;
  if (ready) ready.removeAllListeners();
  spare = undefined;
  const worker = ready ?? startWorker().worker;
  worker.ref(); // held while its command runs; the spare alone must not keep the runner alive
  setImmediate(prestartWorker);
  return worker;
}

/** Starts the spare worker (at broker start, and after each command takes one). */
export function prestartWorker(): void {
  spare ??= startWorker();
}

function startWorker(): { worker: Worker; dead: boolean } {
  const entry = {
    worker: new Worker(__filename, { workerData: { agentSandboxIsolate: true }, stdout: false, stderr: false }),
    dead: false,
  };
  const dead = () => (entry.dead = true);
  entry.worker.once('error', dead).once('exit', dead);
  entry.worker.unref();
  return entry;
}

/** The worker side: enter a fresh nested Landlock domain, then start the command from this thread. */
function runJob(job: Job): void {
  const post = (m: FromWorker) => parentPort!.postMessage(m);
  if (job.sandbox.confined && job.landlockAbi >= 1) {
    restrictSelf(
      { writablePaths: job.sandbox.writablePaths, denyTcp: job.sandbox.denyTcp, scope: true },
      job.landlockAbi,
    );
  }
  const { child, ended } = startCommand(
    { ...job.req, argv: isolatedArgv(job.unshare, job.req.argv) },
    job.fds,
    true,
    (s) => fs.writeSync(job.fds[2], s),
  );
  post({ type: 'started', pid: (child as ChildProcess | undefined)?.pid });
  void ended.then((end) => post({ type: 'exit', end }));
}

if (!isMainThread && (workerData as { agentSandboxIsolate?: boolean } | undefined)?.agentSandboxIsolate) {
  landlockAbi(); // loads koffi and libc now, while the thread waits for its command
  parentPort!.once('message', (job: Job) => runJob(job));
}
