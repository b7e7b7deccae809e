/**
 * How the runner starts one command: a restricted copy of its own token (no privilege needed), a fresh
 * kill-on-close job the process is born into, and stdio over named pipes Node reads without blocking. The
 * runner's own profile variables replace the caller's (the sandbox account cannot read the developer's profile).
 * Must never start a command outside its job or with the runner's unrestricted token.
 */
import * as fs from 'node:fs';
import { Job } from '../../../native-bindings/win32/job';
import { createPipePair, pipeSddl, type PipePair } from '../../../native-bindings/win32/pipe';
import { PseudoConsole } from '../../../native-bindings/win32/conpty';
import type { Socket } from 'node:net';
import { createProcessAsUser } from '../../../native-bindings/win32/process';
import { buildRestrictedToken, openProcessToken, tokenLogonSid, tokenUserSid } from '../../../native-bindings/win32/token';
import { closeAll, type Handle } from '../../../native-bindings/win32/handle';
import { buildCommandLine, resolveProgram } from '../../sandbox/windows/cmdline';
import { envGet } from '../../sandbox/windows/win-env';
import type { SpawnRequest } from '../../sandbox/windows/elevated/frames';
import type { LaunchedCommand } from './broker';

/** Variables that describe the account running the command: taken from the runner, never from the caller. */
export const PROFILE_VARS = ['USERPROFILE', 'APPDATA', 'LOCALAPPDATA', 'HOMEDRIVE', 'HOMEPATH', 'USERNAME', 'USERDOMAIN'];

export function commandEnv(requested: Record<string, string>, own: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(requested)) if (!PROFILE_VARS.includes(k.toUpperCase())) env[k] = v;
  for (const k of PROFILE_VARS) {
    const v = own[k];
    if (v !== undefined) env[k] = v;
  }
  return env;
}

/** The exit code reported for a command stopped by a terminate request. */
export const TERMINATED_EXIT_CODE = 1;

let identity: { user: string; logon: string } | undefined;
function ownIdentity() {
  if (!identity) {
    const t = openProcessToken();
    try {
      identity = { user: tokenUserSid(t), logon: tokenLogonSid(t) };
    } finally {
      t.close();
    }
  }
  return identity;
}

export async function launchRestricted(req: SpawnRequest): Promise<LaunchedCommand> {
  const id = ownIdentity();
  const sid = (s: string) => (s === 'logon' ? id.logon : s);
  const env = commandEnv(req.env, process.env);
  const program = resolveProgram(req.argv[0], req.cwd, { PATH: envGet(env, 'PATH'), PATHEXT: envGet(env, 'PATHEXT') },
    (p) => fs.existsSync(p) && fs.statSync(p).isFile());
  if (!program) throw new Error(`${req.argv[0]}: command not found on the sandbox's PATH`);
  const cmdline = buildCommandLine(program, req.argv.slice(1), envGet(env, 'ComSpec') ?? 'C:\\Windows\\System32\\cmd.exe');
  const token = buildRestrictedToken({
    flags: req.token.flags,
    restrictingSids: req.token.restrictingSids.map(sid),
    keepPrivileges: req.token.keepPrivileges,
    defaultDacl: req.token.defaultDacl.map((d) => ({ sid: sid(d.sid), mask: d.mask })),
  });
  let io: Plumbing | undefined;
  let job: Job | undefined;
  try {
    job = Job.createKillOnClose();
    io = await plumbing(req, pipeSddl([id.user]));
    const child = createProcessAsUser({ token, commandLine: cmdline.commandLine, cwd: req.cwd, env, job,
      ...(io.pty ? { pseudoConsole: io.pty.handle } : { stdio: io.childStdio }) });
    // The child (or the pseudoconsole) holds its own copies now; ours would keep the pipes open after it exits.
    closeAll(...io.servers);
    const theJob = job;
    const pty = io.pty;
    job = undefined;
    let killed = false;
    const kill = () => {
      // Exit code 1 for a terminated command (a kill-on-close job alone would report 0), then the whole tree.
      if (!killed && !child.process.closed && child.exitCode() === undefined) child.terminate(TERMINATED_EXIT_CODE);
      killed = true;
      theJob.close();
    };
    const exited = child.wait().finally(async () => {
      theJob.close();
      child.close();
      // The pseudoconsole's output ends only once it is closed.
      await pty?.close();
    });
    return { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, exited, kill,
      ...(pty ? { resize: (cols: number, rows: number) => pty.resize(cols, rows) } : {}) };
  } catch (e) {
    if (io) {
      closeAll(...io.servers);
      for (const sock of [io.stdin, io.stdout, io.stderr]) sock?.destroy();
      void io.pty?.close();
    }
    closeAll(job);
    throw e;
  } finally {
    token.close();
  }
}

interface Plumbing {
  stdin: Socket;
  stdout: Socket;
  stderr: Socket | null;
  /** Server ends to close once the child (or the pseudoconsole) has its own. */
  servers: Handle[];
  childStdio?: [bigint, bigint, bigint];
  pty?: PseudoConsole;
}

/** Three pipes, or for a terminal two pipes behind a pseudoconsole (stderr is part of the terminal's output). */
async function plumbing(req: SpawnRequest, sddl: string): Promise<Plumbing> {
  const pairs: PipePair[] = [];
  try {
    for (const name of req.tty ? ['pty-in', 'pty-out'] : ['stdin', 'stdout', 'stderr']) pairs.push(await createPipePair(`runner-${name}`, sddl));
    const servers = pairs.map((p) => p.server);
    if (req.tty) {
      const pty = PseudoConsole.create(req.tty.cols, req.tty.rows, pairs[0].server.value, pairs[1].server.value);
      return { stdin: pairs[0].socket, stdout: pairs[1].socket, stderr: null, servers, pty };
    }
    return { stdin: pairs[0].socket, stdout: pairs[1].socket, stderr: pairs[2].socket, servers,
      childStdio: [pairs[0].server.value, pairs[1].server.value, pairs[2].server.value] };
  } catch (e) {
    for (const p of pairs) {
      p.server.close();
      p.socket.destroy();
    }
    throw e;
  }
}
