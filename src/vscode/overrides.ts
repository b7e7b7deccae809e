/**
 * Checks a per-run mode override (from tasks.json, the API or the tool) at run time: JSON can say anything, and an
 * override may only narrow what the settings allow, never switch to `full-access`. Pure, so unit tests run it.
 */
import { SandboxError, SandboxErrorCode } from '../errors';

export function checkedModeOverride(mode: unknown): 'read-only' | 'workspace-write' | undefined {
  if (mode === undefined || mode === 'read-only' || mode === 'workspace-write') return mode;
  throw new SandboxError(
    SandboxErrorCode.InvalidPolicy,
    `A task or caller asked for mode ${JSON.stringify(mode)}; a single run may only ask for "read-only" or "workspace-write".`,
    'Remove "mode" from the task (or the call), or change agentSandbox.mode in your user settings.',
  );
}
