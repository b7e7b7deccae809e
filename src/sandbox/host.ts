/**
 * The real machine's facts for the planner: home, temp, state dir, environment and a filesystem view. This is the
 * impure counterpart of `CompileContext`; tests build contexts by hand instead.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FsView, Platform } from '../policy';
import type { CompileContext } from '../policy/compile';
import { hostListeningSockets } from './linux/host-sockets';

export const realFs: FsView = {
  realpath(p) {
    try {
      return fs.realpathSync.native(p);
    } catch {
      return undefined;
    }
  },
  kind(p) {
    try {
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) {
        const t = fs.statSync(p);
        return t.isDirectory() ? 'dir' : t.isSocket() ? 'socket' : 'file';
      }
      return st.isDirectory() ? 'dir' : st.isSocket() ? 'socket' : 'file';
    } catch {
      return 'missing';
    }
  },
  list(p) {
    try {
      return fs.readdirSync(p);
    } catch {
      return [];
    }
  },
};

/** Where the CLI keeps state. The extension passes its globalStorage path instead. */
export function defaultStateDir(env = process.env): string {
  if (env.AGENT_SANDBOX_STATE_DIR) return path.resolve(env.AGENT_SANDBOX_STATE_DIR);
  if (process.platform === 'win32') {
    return path.join(env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local'), 'AgentSandbox');
  }
  return path.join(env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state'), 'agent-sandbox');
}

export function hostPlatform(): Platform | undefined {
  return process.platform === 'linux' || process.platform === 'win32' ? process.platform : undefined;
}

/** The context for planning on this machine. `stateDir` defaults to the CLI's. */
export function hostContext(overrides: Partial<CompileContext> = {}): CompileContext {
  const platform = overrides.platform ?? hostPlatform() ?? 'linux';
  return {
    platform,
    home: os.homedir(),
    userTemp: os.tmpdir(),
    env: { ...process.env },
    stateDir: defaultStateDir(),
    fs: realFs,
    ...(platform === 'linux' && process.platform === 'linux' ? { listeningSockets: hostListeningSockets() } : {}),
    ...overrides,
  };
}
