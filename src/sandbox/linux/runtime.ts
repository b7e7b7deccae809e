/**
 * Where the runner script is and which runtime starts it: `dist/runner.js` of the agent-sandbox package (found by
 * walking up from this module, which may be in dist/ or in tsc's out/), on this process's own Node, or on VS
 * Code's Electron with ELECTRON_RUN_AS_NODE=1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxError, SandboxErrorCode } from '../../errors';

const PACKAGE_NAME = 'agent-sandbox';

export function packageRoot(from = __dirname): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === PACKAGE_NAME) return dir;
    } catch {
      // No package.json here; keep walking.
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

export function runnerScript(): string {
  const root = packageRoot();
  const script = root && path.join(root, 'dist', 'runner.js');
  if (!script || !fs.existsSync(script)) {
    throw new SandboxError(
      SandboxErrorCode.BackendUnavailable,
      `The sandbox runner (dist/runner.js) was not found${root ? ` in ${root}` : ''}, so nothing was run.`,
      'Build Agent Sandbox (`node scripts/build.mjs`) or reinstall it.',
    );
  }
  return script;
}

/** The runtime and the environment the runner itself starts with (minimal: the command's env is sent over IPC). */
export function runnerRuntime(): { execPath: string; env: Record<string, string> } {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
  if (process.versions.electron) env.ELECTRON_RUN_AS_NODE = '1';
  return { execPath: process.execPath, env };
}
