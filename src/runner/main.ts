/**
 * Runner entry (bundled as dist/runner.js): the process that applies the sandbox to itself and launches commands.
 * A tiny dispatcher: each platform's runner is its own bundle next to this one (dist/runner-<platform>.js), so a
 * Linux sandbox start never parses the Windows runner (about 40 ms per cold start).
 */
import * as path from 'node:path';

const bundles: Partial<Record<NodeJS.Platform, string>> = { linux: 'runner-linux.js', win32: 'runner-win32.js' };
const bundle = bundles[process.platform];
if (bundle) {
  // A computed path keeps esbuild from inlining the platform runners into this file.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(path.join(__dirname, bundle));
} else {
  process.stderr.write(`agent-sandbox runner: no runner for ${process.platform}\n`);
  process.exitCode = 125;
}
