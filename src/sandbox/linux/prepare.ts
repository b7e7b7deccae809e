/**
 * Host-side preparation before a sandbox starts: registers it as live (see live.ts), then the private temp folder
 * and empty placeholders for protected paths that do not exist yet (so they can be mounted read-only and stay
 * uncreatable inside), each recorded in the ledger under `stateDir` so it is taken back when the last sandbox of
 * the workspace ends, or by uninstall. Idempotent; reads back what it created. Never creates anything outside the
 * plan's temp dir and placeholders.
 */
import type { LinuxPlan } from '../../policy/plan';
import { SandboxError, SandboxErrorCode } from '../../errors';
import { register, type Registration } from './live';

/** The caller must `release()` the registration when the sandbox has ended. */
export function prepareHost(plan: LinuxPlan, stateDir: string): Registration {
  try {
    return register(stateDir, plan);
  } catch (e) {
    throw new SandboxError(
      SandboxErrorCode.Internal,
      `Could not prepare the sandbox (${(e as Error).message}), so nothing was run.`,
      'Check that the workspace and the Agent Sandbox state folder are writable by you.',
      { cause: e },
    );
  }
}
