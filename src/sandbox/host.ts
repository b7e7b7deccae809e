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
  // Missing paths are the common case (most denyRead entries, most hooks): ask without throwing first, since a
  // thrown ENOENT costs tens of microseconds and a plan asks about a hundred paths.
  realpath(p) {
    try {
      if (!fs.lstatSync(p, { throwIfNoEntry: false })) return undefined;
      return fs.realpathSync.native(p);
    } catch {
      return undefined;
    }
  },
  kind(p) {
    try {
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (!st) return 'missing';
      if (st.isSymbolicLink()) {
        const t = fs.statSync(p, { throwIfNoEntry: false });
        if (!t) return 'missing';
        return t.isDirectory() ? 'dir' : t.isSocket() ? 'socket' : 'file';
      }
      return st.isDirectory() ? 'dir' : st.isSocket() ? 'socket' : 'file';
    } catch {
      return 'missing';
    }
  },
  list(dir) {
    try {
      return fs.readdirSync(dir);
    } catch {
      return undefined;
    }
  },
  read(file) {
    try {
      // Regular files only, opened non-blocking: a FIFO planted as `.git/config` must not hang the planner.
      if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return undefined;
      const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
      try {
        const buf = Buffer.allocUnsafe(64 * 1024);
        return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return undefined;
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
