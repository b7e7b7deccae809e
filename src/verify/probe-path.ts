/**
 * Finds the bundled probe (dist/probe.js) from wherever this code runs: dist/ (CLI, extension) or out/src/verify
 * (tests). Walks up to the package root, the folder whose package.json is named "agent-sandbox".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxError, SandboxErrorCode } from '../errors';

export const PACKAGE_NAME = 'agent-sandbox';

export function packageRoot(from: string = __dirname): string | undefined {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === PACKAGE_NAME) return dir;
    } catch {
      // no package.json here, or not ours: keep walking up
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

export function probePath(from: string = __dirname): string {
  const root = packageRoot(from);
  const probe = root && path.join(root, 'dist', 'probe.js');
  if (!probe || !fs.existsSync(probe)) {
    throw new SandboxError(
      SandboxErrorCode.Internal,
      `The verification probe (dist/probe.js) was not found above ${from}.`,
      'Rebuild Agent Sandbox with "npm run build", or reinstall the extension.',
    );
  }
  return probe;
}
