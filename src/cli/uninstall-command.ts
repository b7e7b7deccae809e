/**
 * `agent-sandbox uninstall`: reverts the permissions the unelevated sandbox added (no administrator needed), then
 * removes what setup created (accounts and their profiles, the group, the firewall rule, its ledgered ACEs and the
 * stored passwords) with one UAC prompt if setup was ever run, then re-queries and lists leftovers.
 * Exit codes: 0 everything removed; 125 something remains (listed) or the prompt was declined; 2 bad arguments.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  defaultStateDir,
  hostPlatform,
  lifecycleFor,
  removalLines,
  removalSummary,
  SandboxError,
  SandboxErrorCode,
  type RemovalResult,
} from '../sandbox';
import { parse } from './args';
import type { CliCommand } from './commands';

export const uninstallCommand: CliCommand = {
  usage: `Usage: agent-sandbox uninstall [--workspace DIR]...

Reverts every folder permission the sandbox added (from the ledger) and deletes the empty placeholders it
created; this needs no administrator. If the one-time setup was run, also deletes AgentSandboxOffline and
AgentSandboxOnline with their profiles, the group AgentSandboxUsers and the firewall rule (one administrator
prompt), and deletes the stored passwords. Then checks again and lists anything that could not be removed.

On Linux: stops the warm brokers (see "agent-sandbox broker"), removes the empty placeholders the sandbox created for missing protected paths (any you wrote into
are kept and listed), its private temp folders and its ledger.

Windows: --workspace DIR (repeatable) removes only that workspace: reverts the permissions of its capability SID,
the setup group's grant on it and the traverse permissions above it that no other workspace needs, deletes its
empty placeholders, then forgets the SID. The rest of the sandbox stays; no administrator needed.

Exit codes: 0 everything removed; 125 something remains or the prompt was declined; 2 bad arguments.`,
  async main(argv) {
    const { values } = parse(
      argv,
      {
        help: { type: 'boolean', short: 'h', default: false },
        workspace: { type: 'string', multiple: true, default: [] },
      },
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
    const lifecycle = await lifecycleFor(platform);
    const stateDir = defaultStateDir();
    if (values.workspace.length) {
      const roots = values.workspace.map((d) => fs.realpathSync.native(path.resolve(d)));
      return report('Remove workspace', await lifecycle.removeWorkspace({ stateDir, roots }));
    }
    return report(
      'Uninstall',
      await lifecycle.uninstall({ stateDir, onProgress: (m) => process.stderr.write(`agent-sandbox: ${m}\n`) }),
    );
  },
};

/** Prints what was done, the same lines the extension logs; exit 125 when something could not be removed. */
function report(what: string, r: RemovalResult): number {
  for (const line of removalLines(r)) {
    if (line.startsWith('could not')) process.stderr.write(`agent-sandbox: ${line}\n`);
    else console.log(line);
  }
  console.log(removalSummary(what, r));
  return r.failed.length ? 125 : 0;
}
