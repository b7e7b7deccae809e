/**
 * `agent-sandbox uninstall`: removes what setup created (accounts and their profiles, the group, the firewall
 * rule, every ledgered ACE and the stored passwords) with one UAC prompt, then re-queries and lists leftovers.
 * Exit codes: 0 everything removed; 125 something remains (listed) or the prompt was declined; 2 bad arguments.
 */
import { defaultStateDir } from '../sandbox/host';
import { uninstallWindowsSandbox } from '../sandbox/windows/elevated';
import { parse } from './args';
import type { CliCommand } from './commands';

export const uninstallCommand: CliCommand = {
  summary: 'Windows: remove the sandbox accounts, firewall rule and permissions (one administrator prompt).',
  usage: `Usage: agent-sandbox uninstall

Deletes AgentSandboxOffline and AgentSandboxOnline with their profiles, the group AgentSandboxUsers and the
firewall rule, reverts every permission setup added (from the ledger), and deletes the stored passwords. Then
checks again and lists anything that could not be removed.

Exit codes: 0 everything removed; 125 something remains or the prompt was declined; 2 bad arguments.`,
  async main(argv) {
    const { values } = parse(argv, { help: { type: 'boolean', short: 'h', default: false } }, false);
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const result = await uninstallWindowsSandbox({ stateDir: defaultStateDir(),
      onProgress: (m) => process.stderr.write(`agent-sandbox: ${m}\n`) });
    console.log(`Windows sandbox removed (${result.steps.filter((s) => s.status === 'changed').length} changes).`);
    return 0;
  },
};
