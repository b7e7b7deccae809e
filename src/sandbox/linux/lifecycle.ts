/**
 * The Linux lifecycle: nothing to set up (bubblewrap and Landlock are used directly), so Set Up and Status report
 * the backend's status with the exact fix; Remove stops this user's warm CLI brokers of the state folder, takes back
 * the placeholders and temp folders the sandbox made, then the state folder. Must never say "ready" unless the
 * backend's probe did.
 */
import * as fs from 'node:fs';
import { SandboxError, SandboxErrorCode } from '../../errors';
import type { Lifecycle, SandboxBackend } from '../types';
import { createLinuxBackend } from '.';
import { removeLinuxSandboxState } from './uninstall';
import { stopBrokers } from './warm-control';

async function backendStatus(stateDir: string, backend?: SandboxBackend) {
  return (backend ?? createLinuxBackend({ stateDir, broker: false })).status();
}

export const linuxLifecycle: Lifecycle = {
  async describeSetUp() {
    return ['Nothing to set up on Linux: bubblewrap and Landlock are used directly. Set Up checks they are usable.'];
  },
  async setUp(opts) {
    const s = await backendStatus(opts.stateDir);
    return { state: s.state, summary: s.summary, ...(s.fix ? { fix: s.fix } : {}), problems: [] };
  },
  async status(opts) {
    return backendStatus(opts.stateDir, opts.backend);
  },
  async uninstall(opts) {
    // first the CLI's warm brokers of this state folder: a running one would remake what is removed next
    const stopped = await stopBrokers(opts.stateDir);
    const r = removeLinuxSandboxState(opts.stateDir);
    const removed = [...r.removed];
    // Nothing failed and no sandbox runs: nothing of ours is left to record, so the state folder (policies, logs)
    // goes too. A running sandbox's records stay, so that its end still takes its placeholders and temp back.
    if (!r.failed.length && !r.running && fs.existsSync(opts.stateDir)) {
      fs.rmSync(opts.stateDir, { recursive: true, force: true });
      removed.push(opts.stateDir);
    }
    return {
      removed,
      kept: r.kept,
      failed: r.failed,
      notes: stopped.length ? [`stopped ${stopped.length} warm broker(s)`] : [],
    };
  },
  async removeWorkspace() {
    throw new SandboxError(
      SandboxErrorCode.UnsupportedPlatform,
      "Removing one workspace's permissions is only needed on Windows.",
      'Remove takes back the placeholders the sandbox made ("agent-sandbox uninstall", or "Agent Sandbox: Remove").',
    );
  },
};
