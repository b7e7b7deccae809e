/**
 * Host-side preparation before a sandbox starts: the private temp folder and empty placeholders for protected
 * paths that do not exist yet (so they can be mounted read-only and stay uncreatable inside), each recorded in the
 * ledger under `stateDir` so uninstall can take it back. Idempotent; reads back what it created. Never creates
 * anything outside the plan's temp dir and placeholders.
 */
import * as fs from 'node:fs';
import type { LinuxPlan } from '../../policy/plan';
import { SandboxError, SandboxErrorCode } from '../../errors';
import { createPlaceholder } from './placeholders';

export function prepareHost(plan: LinuxPlan, stateDir: string): void {
  try {
    fs.mkdirSync(plan.tempDir, { recursive: true, mode: 0o700 });
    for (const ph of plan.placeholders) createPlaceholder(stateDir, ph.path, ph.kind, ph.content);
  } catch (e) {
    throw new SandboxError(SandboxErrorCode.Internal,
      `Could not prepare the sandbox (${(e as Error).message}), so nothing was run.`,
      'Check that the workspace and the Agent Sandbox state folder are writable by you.', { cause: e });
  }
}
