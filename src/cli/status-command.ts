/**
 * `agent-sandbox status`: whether the sandbox is usable here (the backend's status, as the extension's status bar
 * shows it) and, on Windows, whether the elevated sandbox is set up: its version, the accounts, the firewall rule
 * as read back and whether the firewall policy lets it apply. Reads only; needs no administrator.
 * Exit codes: 0 ready; 1 not ready (the summary says what to do); 2 bad arguments.
 */
import { defaultStateDir, hostPlatform, lifecycleFor, SandboxError, SandboxErrorCode, statusLines } from '../sandbox';
import { parse } from './args';
import type { CliCommand } from './commands';

export const statusCommand: CliCommand = {
  usage: `Usage: agent-sandbox status [--json]

Shows whether the sandbox is usable on this machine (Linux: bubblewrap and Landlock) and, on Windows, whether the
one-time setup is done and current, which sandbox accounts and firewall rules exist, and whether Group Policy lets
the firewall rule apply. Anything that cannot be read is shown as "unknown".

  --json                Print the status as JSON.

Exit codes: 0 ready; 1 not ready; 2 bad arguments.`,
  async main(argv) {
    const { values } = parse(
      argv,
      { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
      false,
    );
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const platform = hostPlatform();
    if (!platform) {
      throw new SandboxError(
        SandboxErrorCode.UnsupportedPlatform,
        `Agent Sandbox does not run on ${process.platform}.`,
        'Use Linux or Windows.',
      );
    }
    const s = await (await lifecycleFor(platform)).status({ stateDir: defaultStateDir() });
    console.log(values.json ? JSON.stringify(s, null, 2) : statusLines(s).join('\n'));
    return s.state === 'ready' ? 0 : 1;
  },
};
