/**
 * `agent-sandbox setup`: the one-time elevated setup of the Windows sandbox (one UAC prompt); on Linux, a check
 * that bubblewrap and Landlock are usable, with the exact fix (as the extension's Set Up). Prints what it will do
 * first; `--dry-run` stops there. Exit codes: 0 done (ready); 125 setup failed, was cancelled or the sandbox is
 * not usable (nothing half-claimed: the failing step and its fix are printed, and running setup again resumes);
 * 2 bad arguments.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultStateDir, hostPlatform, lifecycleFor, SandboxError, SandboxErrorCode } from '../sandbox';
import { parse } from './args';
import type { CliCommand } from './commands';

export const setupCommand: CliCommand = {
  usage: `Usage: agent-sandbox setup [--workspace DIR]... [--tool-dir DIR]... [--dry-run]

Creates the local group AgentSandboxUsers, the hidden standard accounts AgentSandboxOffline and
AgentSandboxOnline, a Windows Firewall rule that blocks all outbound traffic of AgentSandboxOffline, read access
for the sandbox accounts to the runtime and git, and write access to the workspace folders. Asks for
administrator rights once. Safe to run again: it resumes or repairs, and re-keys the accounts' passwords, which
only you can read (Windows DPAPI). On Linux there is nothing to set up: it checks that bubblewrap and Landlock
are usable and prints the fix if not.

  --workspace DIR       A workspace folder the sandbox may write (repeatable). Default: the current directory.
  --tool-dir DIR        Another folder the sandbox must read and run (repeatable).
  --dry-run             Print what setup would do and stop.

Exit codes: 0 done; 125 failed, cancelled or not usable (the step and the fix are printed); 2 bad arguments.`,
  async main(argv) {
    const { values } = parse(
      argv,
      {
        workspace: { type: 'string', multiple: true, default: [] },
        'tool-dir': { type: 'string', multiple: true, default: [] },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
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
    const canonical = (p: string) => fs.realpathSync.native(path.resolve(p));
    const opts = {
      stateDir: defaultStateDir(),
      workspaceRoots: (values.workspace.length ? values.workspace : [process.cwd()]).map(canonical),
      toolDirs: values['tool-dir'].map(canonical),
      onProgress: (m: string) => process.stderr.write(`agent-sandbox: ${m}\n`),
    };
    if (values['dry-run']) {
      for (const line of await lifecycle.describeSetUp(opts)) console.log(line);
      return 0;
    }
    const result = await lifecycle.setUp(opts);
    console.log(result.summary);
    if (result.fix) console.log(`Fix: ${result.fix}`);
    for (const p of result.problems) console.log(`Problem: ${p}`);
    if (result.state !== 'ready') return 125;
    return 0;
  },
};
