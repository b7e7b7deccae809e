/**
 * Starts one command in the unelevated sandbox: restricted token, kill-on-close job from birth, stdio over named
 * pipes (or a ConPTY for terminals), private TEMP/TMP, and the command line quoted for its target.
 * Must never start the command when any step fails (every failure throws before CreateProcessAsUserW).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import type { Win32Plan } from '../../policy/plan';
import { SandboxError, SandboxErrorCode, ExitCode } from '../errors';
import type { ExitInfo, SandboxProcess, SpawnSpec } from '../types';
import { buildRestrictedToken } from '../../../native-bindings/win32/token';
import { Job } from '../../../native-bindings/win32/job';
import { createPipePair, pipeSddl, type PipePair } from '../../../native-bindings/win32/pipe';
import { createProcessAsUser, type ChildProcess } from '../../../native-bindings/win32/process';
import { PseudoConsole } from '../../../native-bindings/win32/conpty';
import { closeAll, type Closable } from '../../../native-bindings/win32/handle';
import { Win32Error } from '../../../native-bindings/win32/errors';
import { buildCommandLine, resolveProgram } from './cmdline';
import { resolveSid, type Identity } from './prepare';
import { envGet } from './win-env';

/** ssh/scp stubs put first on PATH in advisory-offline mode, so the common tools fail loudly instead of connecting. */
export function writeNetworkStubs(stateDir: string): string {
  const dir = path.join(stateDir, 'win32-offline-stubs');
  fs.mkdirSync(dir, { recursive: true });
  for (const tool of ['ssh', 'scp', 'sftp']) {
    fs.writeFileSync(path.join(dir, `${tool}.cmd`),
      `@echo agent-sandbox: ${tool} is disabled in offline mode (advisory: not a security boundary). 1>&2\r\n@exit /b 1\r\n`);
  }
  return dir;
}

function wrap(code: SandboxErrorCode, what: string, fix: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof SandboxError) throw e;
    throw new SandboxError(code, `${what}: ${e instanceof Error ? e.message : String(e)}. Nothing was run.`, fix, { cause: e });
  }
}

function endOf(stream: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.readableEnded) return resolve();
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

interface Plumbing {
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  /** Readers that must reach EOF before the exit is reported. */
  drains: Socket[];
  pty?: PseudoConsole;
  childStdio?: [bigint, bigint, bigint];
  afterSpawn: Closable[];
  sockets: Socket[];
}

async function pipePlumbing(sddl: string, spec: SpawnSpec): Promise<Plumbing> {
  const pairs: PipePair[] = [];
  try {
    for (const name of ['in', 'out', 'err']) pairs.push(await createPipePair(name, sddl));
  } catch (e) {
    for (const p of pairs) {
      p.server.close();
      p.socket.destroy();
    }
    throw e;
  }
  const [i, o, e] = pairs;
  const p: Plumbing = {
    stdin: i.socket, stdout: o.socket, stderr: e.socket, drains: [o.socket, e.socket],
    childStdio: [i.server.value, o.server.value, e.server.value], afterSpawn: [i.server, o.server, e.server],
    sockets: [i.socket, o.socket, e.socket],
  };
  if (spec.stdio === 'inherit') {
    o.socket.pipe(process.stdout, { end: false });
    e.socket.pipe(process.stderr, { end: false });
    process.stdin.pipe(i.socket);
    p.stdin = p.stdout = p.stderr = null;
  }
  return p;
}

async function ptyPlumbing(sddl: string, tty: { cols: number; rows: number }, spec: SpawnSpec): Promise<Plumbing> {
  const input = await createPipePair('pty-in', sddl);
  const output = await createPipePair('pty-out', sddl);
  let pty: PseudoConsole;
  try {
    pty = PseudoConsole.create(tty.cols, tty.rows, input.server.value, output.server.value);
  } catch (err) {
    closeAll(input.server, output.server);
    input.socket.destroy();
    output.socket.destroy();
    throw err;
  }
  // ConPTY holds its own duplicates of both ends; ours are closed once the child has started. The output reaches
  // EOF when the pseudoconsole closes, so it is drained after ClosePseudoConsole.
  const p: Plumbing = { stdin: input.socket, stdout: output.socket, stderr: null, drains: [output.socket], pty,
    afterSpawn: [input.server, output.server], sockets: [input.socket, output.socket] };
  if (spec.stdio === 'inherit') {
    output.socket.pipe(process.stdout, { end: false });
    process.stdin.pipe(input.socket);
    p.stdin = p.stdout = null;
  }
  return p;
}

export async function spawnUnelevated(plan: Win32Plan, spec: SpawnSpec, id: Identity, env: Record<string, string>): Promise<SandboxProcess> {
  const started = Date.now();
  const comspec = envGet(env, 'ComSpec') ?? 'C:\\Windows\\System32\\cmd.exe';
  const program = resolveProgram(spec.argv[0], spec.cwd, { PATH: envGet(env, 'PATH'), PATHEXT: envGet(env, 'PATHEXT') },
    (p) => fs.existsSync(p) && fs.statSync(p).isFile());
  if (!program) {
    throw new SandboxError(SandboxErrorCode.ProcessCreateFailed, `"${spec.argv[0]}" was not found on the sandbox's PATH.`,
      'Check the command name, or give its full path.');
  }
  const { commandLine } = buildCommandLine(program, spec.argv.slice(1), comspec);
  fs.mkdirSync(plan.tempDir, { recursive: true });
  const sddl = pipeSddl([id.userSid]);
  let token: Closable | undefined, job: Job | undefined, plumbing: Plumbing | undefined, child: ChildProcess | undefined;
  try {
    let built: ReturnType<typeof buildRestrictedToken> | undefined;
    wrap(SandboxErrorCode.TokenFailed, 'Could not create the restricted token', 'Report this with the error above.', () => {
      built = buildRestrictedToken({
        flags: plan.token.flags.value,
        restrictingSids: plan.token.restrictingSids.map((s) => resolveSid(s, id)),
        keepPrivileges: plan.token.keepPrivileges,
        defaultDacl: plan.token.defaultDacl.map((d) => ({ sid: resolveSid(d.sid, id), mask: d.mask.value })),
      });
    });
    token = built;
    wrap(SandboxErrorCode.JobFailed, 'Could not create the kill-on-close job', 'Report this with the error above.', () => {
      job = Job.createKillOnClose();
      job.setUiRestrictions();
    });
    plumbing = spec.tty ? await ptyPlumbing(sddl, spec.tty, spec) : await pipePlumbing(sddl, spec);
    const p = plumbing;
    wrap(SandboxErrorCode.ProcessCreateFailed, `Could not start ${program}`, 'Check that the program is a Windows executable.', () => {
      child = createProcessAsUser({ token: built!, commandLine, cwd: spec.cwd, env, stdio: p.childStdio,
        pseudoConsole: p.pty?.handle, job: job! });
    });
    closeAll(...p.afterSpawn);
  } catch (e) {
    if (plumbing) {
      closeAll(...plumbing.afterSpawn);
      for (const s of plumbing.sockets) s.destroy();
      void plumbing.pty?.close();
    }
    closeAll(job, token);
    throw e;
  }
  closeAll(token);
  return supervise(child!, job!, plumbing, spec, started);
}

function supervise(child: ChildProcess, job: Job, p: Plumbing, spec: SpawnSpec, started: number): SandboxProcess {
  let timedOut = false;
  let killed = false;
  const kill = () => {
    if (killed || job.handle.closed) return;
    killed = true;
    try {
      job.terminate(1);
    } catch (e) {
      if (!(e instanceof Win32Error)) throw e;
    }
  };
  const timer = spec.timeoutMs ? setTimeout(() => {
    timedOut = true;
    kill();
  }, spec.timeoutMs) : undefined;
  const onAbort = () => kill();
  spec.signal?.addEventListener('abort', onAbort, { once: true });
  if (spec.signal?.aborted) kill(); // cancelled before the listener existed (during preparation or the start)
  const exited = (async (): Promise<ExitInfo> => {
    try {
      const code = await child.wait();
      // The command is done: end whatever it left behind (they could hold the output pipes open forever).
      job.close();
      if (p.pty) await p.pty.close();
      await Promise.all(p.drains.map(endOf));
      // A tree ended through the job is reported like SIGKILL (128+9): Windows has no signals to report.
      if (timedOut) return { code: ExitCode.Timeout, timedOut, durationMs: Date.now() - started };
      if (killed) return { code: ExitCode.SignalBase + 9, timedOut, signal: 'SIGKILL', durationMs: Date.now() - started };
      return { code, timedOut, durationMs: Date.now() - started };
    } finally {
      if (timer) clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
      if (spec.stdio === 'inherit') {
        process.stdin.unpipe();
        process.stdin.pause();
      }
      for (const s of p.sockets) s.destroy();
      closeAll(child, job);
    }
  })();
  const resize = p.pty ? (cols: number, rows: number) => p.pty!.resize(cols, rows) : undefined;
  return { stdin: p.stdin, stdout: p.stdout, stderr: p.stderr, exited, kill, ...(resize ? { resize } : {}) };
}
