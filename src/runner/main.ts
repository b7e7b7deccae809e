/**
 * Runner entry (bundled as dist/runner.js): the process that applies the sandbox to itself and launches commands.
 * Dispatches on the platform; each platform's runner lives in its own folder.
 */
import { runLinuxRunner } from './linux/main';
import { runWindowsRunner } from './windows/main';

switch (process.platform) {
  case 'linux':
    runLinuxRunner();
    break;
  case 'win32':
    runWindowsRunner();
    break;
  default:
    process.stderr.write(`agent-sandbox runner: no runner for ${process.platform}\n`);
    process.exitCode = 125;
}
