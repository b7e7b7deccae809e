/**
 * Host-side preparation before a sandbox starts: the private temp folder and empty placeholders for protected
 * paths that do not exist yet (so they can be mounted read-only and stay uncreatable inside). Idempotent; reads
 * back what it created. Never creates anything outside the plan's temp dir and placeholders.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LinuxPlan } from '../../policy/plan';
import { SandboxError, SandboxErrorCode } from '../errors';

export function prepareHost(plan: LinuxPlan): void {
  try {
    fs.mkdirSync(plan.tempDir, { recursive: true, mode: 0o700 });
    for (const ph of plan.placeholders) createPlaceholder(ph.path, ph.kind);
  } catch (e) {
    throw new SandboxError(SandboxErrorCode.Internal,
      `Could not prepare the sandbox (${(e as Error).message}), so nothing was run.`,
      'Check that the workspace and the Agent Sandbox state folder are writable by you.', { cause: e });
  }
}

function createPlaceholder(p: string, kind: 'dir' | 'file'): void {
  if (kind === 'dir') {
    fs.mkdirSync(p, { recursive: true });
  } else {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    try {
      fs.writeFileSync(p, '', { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  if (!fs.existsSync(p)) throw new Error(`placeholder ${p} was not created`);
}
