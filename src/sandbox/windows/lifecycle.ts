/**
 * The Windows lifecycle: the one-UAC elevated setup (./setup), the status of the backend and of that setup, the
 * uninstall that reverts the unelevated permissions without an administrator and asks for one only if setup was
 * run (./uninstall), and "remove this workspace". Must never report success while something it created is left:
 * the uninstall then throws its SandboxError, and the state folder stays.
 */
import * as fs from 'node:fs';
import { isWithin } from '../../policy/paths';
import type { Lifecycle, LifecycleStatus } from '../types';
import { createWindowsBackend, removeWindowsWorkspace } from '.';
import { describeWindowsSetup, setupWindowsSandbox, windowsSandboxStatus } from './setup';
import { uninstallWindowsSandbox } from './uninstall';
import { stopBrokers } from './warm-control';

const KEPT = 'created by the sandbox, but no longer empty';

export const windowsLifecycle: Lifecycle = {
  describeSetUp: (opts) => describeWindowsSetup(opts),
  async setUp(opts) {
    const result = await setupWindowsSandbox(opts);
    return {
      state: 'ready',
      summary: `Windows sandbox set up (version ${result.version}): ${result.users.map((u) => u.name).join(', ')}.`,
      problems: [...result.refused.map((r) => `${r.path}: ${r.reason}`), ...result.problems],
    };
  },
  /** The backend's status, but "setup needed" while elevated mode (read isolation, a real network block) is not set up. */
  async status(opts): Promise<LifecycleStatus> {
    const status = await (opts.backend ?? createWindowsBackend({ stateDir: opts.stateDir })).status();
    const windows = await windowsSandboxStatus({ stateDir: opts.stateDir });
    if (status.state !== 'ready' || windows.state === 'ready') return { ...status, windows };
    return {
      state: 'setup-needed',
      summary: `${status.summary} Elevated mode: ${windows.summary}`,
      fix: windows.fix ?? 'Run "agent-sandbox setup" (or "Agent Sandbox: Set Up Windows Sandbox").',
      details: status.details,
      windows,
    };
  },
  async uninstall(opts) {
    // first the CLI's warm brokers of this state folder: a running one would remake what is removed next
    const brokers = await stopBrokers(opts.stateDir);
    const r = await uninstallWindowsSandbox(opts);
    const removed = [`${r.aclReverted} folder permission(s) the sandbox had added`];
    if (r.elevated)
      removed.push(
        `${r.steps.filter((s) => s.status === 'changed').length} thing(s) setup had created, as administrator`,
      );
    // Everything recorded is reverted (the uninstall throws while any ledger record remains): the state folder
    // (emptied ledger, workspace SIDs, private temp folders, Verify's workspace) goes too.
    fs.rmSync(opts.stateDir, { recursive: true, force: true });
    removed.push(opts.stateDir);
    return {
      removed,
      kept: r.keptCreated.filter((p) => !isWithin('win32', opts.stateDir, p)).map((path) => ({ path, reason: KEPT })),
      failed: [],
      notes: [
        ...(r.elevated ? [] : ['The administrator setup was not present, so no administrator rights were needed.']),
        ...(brokers.length ? [`stopped ${brokers.length} warm broker(s)`] : []),
      ],
    };
  },
  async removeWorkspace(opts) {
    const out = {
      removed: [] as string[],
      kept: [] as { path: string; reason: string }[],
      failed: [] as { path: string; reason: string }[],
      notes: [] as string[],
    };
    for (const root of opts.roots) {
      const r = await removeWindowsWorkspace(opts.stateDir, root);
      if (!r.sids.length && !r.reverted.length && !r.failures.length)
        out.notes.push(`${root}: the sandbox never changed permissions there.`);
      else
        out.removed.push(
          `${root}: ${r.reverted.length} permission(s) reverted, ${r.removed.length} empty placeholder(s) removed`,
        );
      out.kept.push(...r.keptCreated.map((path) => ({ path, reason: KEPT })));
      out.failed.push(
        ...r.failures.map((f) => ({ path: f.record.path, reason: (f.error as Error)?.message ?? String(f.error) })),
      );
    }
    return out;
  },
};
