/**
 * Where the runner script is: next to the bundle (dist/runner.js) in a build, or the compiled module under out/
 * in tests. Must never fall back to a path that does not exist: elevation and logon would start nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxError, SandboxErrorCode } from '../../errors';

export function runnerScript(): string {
  // No environment override: whatever script a variable named would be run elevated (setup) or as the sandbox
  // accounts, so only the files shipped beside this module count.
  const candidates = [
    path.join(__dirname, 'runner.js'),
    path.join(__dirname, '..', '..', 'runner', 'windows', 'entry.js'),
  ].filter((p): p is string => Boolean(p));
  const hit = candidates.find((p) => fs.existsSync(p));
  if (!hit) {
    throw new SandboxError(
      SandboxErrorCode.BackendUnavailable,
      `The sandbox runner script was not found (looked in ${candidates.join(', ')}).`,
      'Reinstall Agent Sandbox.',
    );
  }
  return hit;
}

/**
 * The folder the sandbox accounts must read to start the runner: the package root for a build (dist/ and the
 * node_modules holding koffi), or the runner's own folder otherwise.
 */
export function runnerPackageRoot(): string {
  const script = runnerScript();
  const dir = path.dirname(script);
  return path.basename(dir).toLowerCase() === 'dist' ? path.dirname(dir) : dir;
}
