/**
 * The one Windows launcher, used by the unelevated backend (in the developer's process) and by the elevated runner
 * (as a sandbox account): resolve the program on the sandbox's PATH, quote its command line, build the restricted
 * token, create a kill-on-close job, create the stdio pipes (or a pseudoconsole for a terminal), start the command
 * with CreateProcessAsUserW born into the job, and close our copies of the child's ends.
 * Must never start a command outside its job or after a failed step: every failure throws a SandboxError before
 * CreateProcessAsUserW, and what was made so far is released through one scope.
 */
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import { SandboxError, SandboxErrorCode } from '../../errors';
import { buildRestrictedToken, type RestrictedTokenSpec } from '../../../native-bindings/win32/token';
import { Job } from '../../../native-bindings/win32/job';
import { createPipePair, pipeSddl, type PipePair } from '../../../native-bindings/win32/pipe';
import { createProcessAsUser } from '../../../native-bindings/win32/process';
import { PseudoConsole } from '../../../native-bindings/win32/conpty';
import { Win32Error } from '../../../native-bindings/win32/errors';
import { Scope } from '../../scope';
import { buildCommandLine, resolveProgram } from './cmdline';
import { envGet } from './win-env';

/** The exit code every process of a terminated command reports (the caller maps a kill to 128+9). */
export const TERMINATED_EXIT_CODE = 1;

export interface RestrictedSpec {
  /** argv[0] is resolved on `env`'s PATH and PATHEXT. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** Every SID already resolved to a string. */
  token: RestrictedTokenSpec;
  /** The account whose processes may open the stdio pipes (this process's user). */
  pipeOwnerSid: string;
  /** Prefix of the pipe names, so a pipe in a listing says who made it. */
  pipePrefix: string;
  /** Allocate a pseudoconsole of this size; stderr is then part of the terminal's output. */
  tty?: { cols: number; rows: number };
  /** How the command is kept off the developer's desktop (see ./ui-isolation). */
  ui: LaunchUi;
}

export interface LaunchUi {
  /** STARTUPINFO.lpDesktop (a private desktop); omitted, the command inherits the caller's desktop. */
  desktop?: string;
  /** Set the job's UI limits (clipboard, global atoms, window handles...). */
  uiLimits: boolean;
  /** CREATE_BREAKAWAY_FROM_JOB, when the caller's own job allows it and the UI limits could not nest in it. */
  breakaway: boolean;
}

/** The hidden pseudoconsole of a pipe-path command: its console, never read as output (stdout/stderr are pipes). */
const HIDDEN_CONSOLE = { cols: 120, rows: 30 };

/** A started command. Disposing it destroys our pipe ends and closes the job, which ends the command's tree. */
export interface RestrictedProcess extends Disposable {
  readonly stdin: Socket;
  readonly stdout: Socket;
  readonly stderr: Socket | null;
  /**
   * The command's exit code. By then every process left in its job has been ended (they could hold the output
   * pipes open forever) and the pseudoconsole is closed, so the output reaches EOF.
   */
  readonly exited: Promise<number>;
  /** Ends the whole tree with TERMINATED_EXIT_CODE. Idempotent. */
  kill(): void;
  resize?(cols: number, rows: number): void;
}

function wrap<T>(code: SandboxErrorCode, what: string, fix: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SandboxError) throw e;
    throw new SandboxError(code, `${what}: ${e instanceof Error ? e.message : String(e)}. Nothing was run.`, fix, {
      cause: e,
    });
  }
}

const REPORT = 'Report this with the error above.';

export async function startRestricted(spec: RestrictedSpec): Promise<RestrictedProcess> {
  const { env } = spec;
  const program = resolveProgram(
    spec.argv[0],
    spec.cwd,
    { PATH: envGet(env, 'PATH'), PATHEXT: envGet(env, 'PATHEXT') },
    (p) => fs.existsSync(p) && fs.statSync(p).isFile(),
  );
  if (!program) {
    throw new SandboxError(
      SandboxErrorCode.ProcessCreateFailed,
      `"${spec.argv[0]}": command not found on the sandbox's PATH.`,
      'Check the command name, or give its full path.',
    );
  }
  const { commandLine } = buildCommandLine(
    program,
    spec.argv.slice(1),
    envGet(env, 'ComSpec') ?? 'C:\\Windows\\System32\\cmd.exe',
  );
  using scope = new Scope();
  using token = wrap(SandboxErrorCode.TokenFailed, 'Could not create the restricted token', REPORT, () =>
    buildRestrictedToken(spec.token),
  );
  const job = scope.use(
    wrap(SandboxErrorCode.JobFailed, 'Could not create the kill-on-close job', REPORT, () => Job.createKillOnClose()),
  );
  if (spec.ui.uiLimits)
    wrap(SandboxErrorCode.JobFailed, "Could not restrict the job's desktop access", REPORT, () =>
      job.setUiRestrictions(),
    );
  const sddl = pipeSddl([spec.pipeOwnerSid]);
  // Every command gets a console made here, by the unrestricted caller: a terminal's is its output; a pipe-path
  // command's is hidden (console programs die with 0xC0000142 when a write-restricted token must build its own
  // conhost) and its stdout and stderr stay separate pipes.
  const names = spec.tty ? ['pty-in', 'pty-out'] : ['stdin', 'stdout', 'stderr', 'con-in', 'con-out'];
  const pairs: PipePair[] = [];
  for (const name of names) {
    const pair = await createPipePair(`${spec.pipePrefix}-${name}`, sddl);
    scope.use(pair.server);
    scope.defer(() => pair.socket.destroy());
    pairs.push(pair);
  }
  // ConPTY holds its own duplicates of both ends; ours are closed once the child has started.
  const [conIn, conOut] = spec.tty ? [pairs[0], pairs[1]] : [pairs[3], pairs[4]];
  const size = spec.tty ?? HIDDEN_CONSOLE;
  const pty = scope.use(
    wrap(
      SandboxErrorCode.ProcessCreateFailed,
      "Could not create the command's console (pseudoconsole)",
      'Pseudoconsoles need Windows 10 1809 or later.',
      () => PseudoConsole.create(size.cols, size.rows, conIn.server.value, conOut.server.value),
    ),
  );
  // The hidden console's output is drained and dropped (ConPTY stalls when nobody reads it).
  if (!spec.tty) conOut.socket.resume();
  const child = wrap(
    SandboxErrorCode.ProcessCreateFailed,
    `Could not start ${program}`,
    'Check that the program is a Windows executable.',
    () =>
      createProcessAsUser({
        token,
        commandLine,
        cwd: spec.cwd,
        env,
        job,
        pseudoConsole: pty.handle,
        breakaway: spec.ui.breakaway,
        ...(spec.ui.desktop ? { desktop: spec.ui.desktop } : {}),
        ...(spec.tty ? {} : { stdio: [pairs[0].server.value, pairs[1].server.value, pairs[2].server.value] }),
      }),
  );
  scope.keep();
  // The child (or the pseudoconsole) holds its own copies now; ours would keep the pipes open after it exits.
  for (const p of pairs) p.server.close();

  let killed = false;
  const kill = () => {
    if (killed || job.handle.closed) return;
    killed = true;
    try {
      job.terminate(TERMINATED_EXIT_CODE);
    } catch (e) {
      // The job is already ending (its last process exited): nothing left to terminate.
      if (!(e instanceof Win32Error)) throw e;
    }
  };
  const exited = (async () => {
    try {
      const code = await child.wait();
      job.close();
      await pty.close();
      return code;
    } finally {
      child.close();
      job.close();
    }
  })();
  const sockets = pairs.map((p) => p.socket);
  return {
    stdin: sockets[0],
    stdout: sockets[1],
    stderr: spec.tty ? null : sockets[2],
    exited,
    kill,
    ...(spec.tty ? { resize: (cols: number, rows: number) => pty.resize(cols, rows) } : {}),
    [Symbol.dispose]() {
      for (const s of sockets) s.destroy();
      job.close();
    },
  };
}
