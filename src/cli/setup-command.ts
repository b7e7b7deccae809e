/**
 * `agent-sandbox setup`: the one-time elevated setup of the Windows sandbox (one UAC prompt). Prints what it will
 * do first; `--dry-run` stops there. Exit codes: 0 done; 125 setup failed or was cancelled (nothing half-claimed:
 * the failing step and its fix are printed, and running setup again resumes); 2 bad arguments.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultStateDir } from '../sandbox/host';
import { describeWindowsSetup, setupWindowsSandbox } from '../sandbox/windows/setup';
import { SandboxError, SandboxErrorCode } from '../errors';
import { parse } from './args';
import type { CliCommand } from './commands';

export const setupCommand: CliCommand = {
  usage: `Usage: agent-sandbox setup [--workspace DIR]... [--tool-dir DIR]... [--dry-run]

Creates the local group AgentSandboxUsers, the hidden standard accounts AgentSandboxOffline and
AgentSandboxOnline, a Windows Firewall rule that blocks all outbound traffic of AgentSandboxOffline, read access
for the sandbox accounts to the runtime and git, and write access to the workspace folders. Asks for
administrator rights once. Safe to run again: it resumes or repairs, and re-keys the accounts' passwords, which
only you can read (Windows DPAPI).

  --workspace DIR       A workspace folder the sandbox may write (repeatable). Default: the current directory.
  --tool-dir DIR        Another folder the sandbox must read and run (repeatable).
  --dry-run             Print what setup would do and stop.

Exit codes: 0 done; 125 failed or cancelled (the step and the fix are printed); 2 bad arguments.`,
  async main(argv) {
    const { values } = parse(argv, {
      workspace: { type: 'string', multiple: true, default: [] },
      'tool-dir': { type: 'string', multiple: true, default: [] },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    }, false);
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    if (process.platform !== 'win32') {
      throw new SandboxError(SandboxErrorCode.UnsupportedPlatform, 'agent-sandbox setup is only needed on Windows.',
        'On Linux, run commands directly with "agent-sandbox run".');
    }
    const canonical = (p: string) => fs.realpathSync.native(path.resolve(p));
    const workspaceRoots = (values.workspace.length ? values.workspace : [process.cwd()]).map(canonical);
    const toolDirs = values['tool-dir'].map(canonical);
    if (values['dry-run']) {
      for (const line of await describeWindowsSetup({ workspaceRoots, toolDirs })) console.log(line);
      return 0;
    }
    const result = await setupWindowsSandbox({ stateDir: defaultStateDir(), workspaceRoots, toolDirs,
      onProgress: (m) => process.stderr.write(`agent-sandbox: ${m}\n`) });
    console.log(`Windows sandbox set up (version ${result.version}): ${result.users.map((u) => u.name).join(', ')}.`);
    for (const p of result.problems) console.log(`Problem: ${p}`);
    return 0;
  },
};
