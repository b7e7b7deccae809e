/**
 * `agent-sandbox uninstall`: reverts the permissions the unelevated sandbox added (no administrator needed), then
 * removes what setup created (accounts and their profiles, the group, the firewall rule, its ledgered ACEs and the
 * stored passwords) with one UAC prompt if setup was ever run, then re-queries and lists leftovers.
 * Exit codes: 0 everything removed; 125 something remains (listed) or the prompt was declined; 2 bad arguments.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultStateDir } from '../sandbox/host';
import { isWithin } from '../policy/paths';
import { SandboxError, SandboxErrorCode } from '../sandbox/errors';
import { removeWindowsWorkspace } from '../sandbox/windows';
import { uninstallWindowsSandbox } from '../sandbox/windows/elevated';
import { removeLinuxSandboxState } from '../sandbox/linux/uninstall';
import { parse } from './args';
import { stopBrokers } from './warm/control';
import type { CliCommand } from './commands';

export const uninstallCommand: CliCommand = {
  usage: `Usage: agent-sandbox uninstall [--workspace DIR]...

Reverts every folder permission the sandbox added (from the ledger) and deletes the empty placeholders it
created; this needs no administrator. If the one-time setup was run, also deletes AgentSandboxOffline and
AgentSandboxOnline with their profiles, the group AgentSandboxUsers and the firewall rule (one administrator
prompt), and deletes the stored passwords. Then checks again and lists anything that could not be removed.

On Linux: stops the warm brokers (see "agent-sandbox broker"), removes the empty placeholders the sandbox created for missing protected paths (any you wrote into
are kept and listed), its private temp folders and its ledger.

Windows: --workspace DIR (repeatable) removes only that workspace: reverts the permissions of its capability SID
and deletes its empty placeholders, then forgets the SID. The rest of the sandbox stays; no administrator needed.

Exit codes: 0 everything removed; 125 something remains or the prompt was declined; 2 bad arguments.`,
  async main(argv) {
    const { values } = parse(argv, { help: { type: 'boolean', short: 'h', default: false },
      workspace: { type: 'string', multiple: true, default: [] } }, false);
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    if (values.workspace.length) return removeWorkspaces(values.workspace);
    if (process.platform === 'linux') return uninstallLinux();
    const result = await uninstallWindowsSandbox({ stateDir: defaultStateDir(),
      onProgress: (m) => process.stderr.write(`agent-sandbox: ${m}\n`) });
    console.log(`Windows sandbox removed: ${result.aclReverted} folder permission(s) reverted; ` +
      (result.elevated ? `${result.steps.filter((s) => s.status === 'changed').length} change(s) as administrator.`
        : 'the administrator setup was not present, so no administrator rights were needed.'));
    const stateDir = defaultStateDir();
    for (const k of result.keptCreated.filter((p) => !isWithin('win32', stateDir, p))) {
      console.log(`Kept ${k}: created by the sandbox, but no longer empty.`);
    }
    // Everything recorded is reverted (uninstallWindows fails while any ledger record remains): the state folder
    // (emptied ledger, workspace SIDs, private temp folders, Verify's workspace) goes too, as the extension's Remove does.
    fs.rmSync(stateDir, { recursive: true, force: true });
    console.log(`Removed ${stateDir}.`);
    return 0;
  },
};

/**
 * Linux: stops the warm brokers of this state folder, then removes the placeholders the sandbox created in workspaces (keeping, and listing, any you wrote into),
 * its private temp folders and its ledger. Exit 125 only when something we own could not be removed.
 */
async function uninstallLinux(): Promise<number> {
  const stopped = await stopBrokers(defaultStateDir());
  if (stopped.length) console.log(`stopped ${stopped.length} warm broker(s)`);
  const result = removeLinuxSandboxState(defaultStateDir());
  for (const p of result.removed) console.log(`removed ${p}`);
  for (const k of result.kept) console.log(`kept ${k.path}: ${k.reason}`);
  for (const f of result.failed) process.stderr.write(`agent-sandbox: could not remove ${f.path}: ${f.reason}\n`);
  console.log(`Linux sandbox state removed (${result.removed.length} removed, ${result.kept.length} kept).`);
  return result.failed.length ? 125 : 0;
}

/** Windows: "remove this workspace" for each folder given. Exit 125 when a permission could not be reverted. */
async function removeWorkspaces(dirs: string[]): Promise<number> {
  if (process.platform !== 'win32') {
    throw new SandboxError(SandboxErrorCode.UnsupportedPlatform, 'uninstall --workspace is only used on Windows.',
      'Run "agent-sandbox uninstall" without --workspace.');
  }
  let failed = 0;
  for (const dir of dirs) {
    const root = fs.realpathSync.native(path.resolve(dir));
    const r = await removeWindowsWorkspace(defaultStateDir(), root);
    if (!r.sid) console.log(`${root}: the sandbox never changed permissions there.`);
    else console.log(`${root}: ${r.reverted.length} permission(s) reverted, ${r.removed.length} empty placeholder(s) removed.`);
    for (const k of r.keptCreated) console.log(`Kept ${k}: created by the sandbox, but no longer empty.`);
    for (const f of r.failures) process.stderr.write(`agent-sandbox: could not revert ${f.record.path}: ${(f.error as Error)?.message ?? f.error}\n`);
    failed += r.failures.length;
  }
  return failed ? 125 : 0;
}
