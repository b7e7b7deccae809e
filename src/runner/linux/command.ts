/**
 * Starts one command from the (already sandboxed) runner and reports how it ended, following the exit-code
 * contract: the command's own code, 128+N for signal N, 127 when it was not found, 126 when not executable.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants } from 'node:os';
import type { CommandRequest } from '../../protocol/linux';

export interface Ended {
  code: number;
  signal?: string;
}

export interface Started {
  child: ChildProcess | undefined;
  ended: Promise<Ended>;
}

export function startCommand(
  req: CommandRequest,
  stdio: StdioOptions,
  detached: boolean,
  errOut: (s: string) => void,
): Started {
  let child: ChildProcess;
  try {
    child = spawn(req.argv[0], req.argv.slice(1), { cwd: req.cwd, env: req.env, stdio, detached });
  } catch (e) {
    errOut(`agent-sandbox: cannot start ${req.argv[0]}: ${(e as Error).message}\n`);
    return { child: undefined, ended: Promise.resolve({ code: 126 }) };
  }
  const ended = new Promise<Ended>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      errOut(`agent-sandbox: cannot start ${req.argv[0]}: ${e.code === 'ENOENT' ? 'command not found' : e.message}\n`);
      resolve({ code: e.code === 'ENOENT' ? 127 : 126 });
    });
    child.once('exit', (code, signal) => {
      if (signal) resolve({ code: 128 + (constants.signals[signal] ?? 0), signal });
      else resolve({ code: code ?? 0 });
    });
  });
  return { child, ended };
}
