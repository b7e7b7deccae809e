/**
 * Setup and uninstall as the developer's process sees them: compute the plan, show it, ask for one elevation,
 * protect the returned passwords with the developer's own DPAPI, and turn a failed step into a SandboxError that
 * names the step, its stable code and the fix. Must never store a password unprotected, and never report success
 * when a step failed or something was left behind.
 */
import * as os from 'node:os';
import { compilePlan, type Win32Plan } from '../../../policy';
import { SandboxError, SandboxErrorCode } from '../../../errors';
import { hostContext } from '../../host';
import { deleteCredentials, saveCredentials } from './credentials';
import { requestElevated } from './elevate-request';
import type { ElevatedResult, StepOutcome } from './payload';
import { machineRuntimeDirs } from './runtime-dirs';
import { buildSetupPlan, type GrantSpec, type SetupPlan } from './setup-plan';

export interface SetupOptions {
  stateDir: string;
  workspaceRoots: string[];
  /** The elevated plan to set up for; default: the default policy for `workspaceRoots`, compiled for elevated mode. */
  plan?: Win32Plan;
  extensionDir?: string;
  toolDirs?: string[];
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

export interface SetupResult {
  version: number;
  steps: StepOutcome[];
  users: { network: 'offline' | 'online'; name: string; sid: string }[];
  /** Folders not granted, with the reason (setup went on without them). */
  refused: { path: string; reason: string }[];
  /** Per-folder problems inside steps that otherwise succeeded. */
  problems: string[];
}

export interface UninstallResult {
  steps: StepOutcome[];
  leftovers: string[];
}

/** The elevated plan setup applies on this machine: the default policy for the roots, compiled for elevated mode. */
export function elevatedPlanFor(
  opts: Pick<SetupOptions, 'workspaceRoots' | 'extensionDir' | 'toolDirs'> & { stateDir?: string },
): Win32Plan {
  const plan = compilePlan(
    { workspaceRoots: opts.workspaceRoots },
    hostContext({
      platform: 'win32',
      windowsMode: 'elevated',
      runtimeDirs: machineRuntimeDirs(opts),
      ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
    }),
  );
  if (plan.platform !== 'win32') throw new Error('expected a win32 plan');
  return plan;
}

/** What setup does on this machine, for display before the UAC prompt. */
export function planForThisMachine(
  opts: Pick<SetupOptions, 'workspaceRoots' | 'extensionDir' | 'toolDirs' | 'plan'> & { stateDir?: string },
): SetupPlan {
  return buildSetupPlan({ plan: opts.plan ?? elevatedPlanFor(opts), home: os.homedir() });
}

const GRANT_VERB: Record<GrantSpec['reason'], string> = {
  'writable-root': 'Allow writing',
  'runtime-read': 'Allow reading and running',
  'profile-traverse': 'Allow passing through (not listing or reading; nothing inside inherits it)',
};

export function describePlan(plan: SetupPlan): string[] {
  return [
    `Create the local group ${plan.group.name}.`,
    ...plan.users.map(
      (u) => `Create the local account ${u.name} (standard user, hidden from the sign-in screen, random password).`,
    ),
    'Remove the firewall rule an older setup created, if present.',
    ...plan.firewall.map((r) => `Add the firewall rule "${r.name}": ${r.description}`),
    'The firewall rules are unproven until Verify runs; DNS lookups and SMB made by Windows services for the accounts are not covered.',
    ...plan.grants.map((g) => `${GRANT_VERB[g.reason]}: ${g.path}`),
    'Copy the runner (and the runtime, when it lives in your profile) to %ProgramData%\\AgentSandbox\\runtime, ' +
      'writable by administrators only: the sandbox accounts cannot start it from inside your profile.',
    ...plan.refused.map((r) => `Skip ${r.path}: ${r.reason}.`),
  ];
}

export async function runSetup(opts: SetupOptions): Promise<SetupResult> {
  const plan = planForThisMachine(opts);
  for (const line of describePlan(plan)) opts.onProgress?.(line);
  opts.onProgress?.('Asking Windows for administrator rights (one prompt)…');
  const result = await requestElevated(
    { action: 'setup', stateDir: opts.stateDir, home: os.homedir(), grants: plan.grants },
    opts.signal,
  );
  // Accounts that were completed get their passwords stored even when a later step failed: a rerun resumes.
  if (result.users.length) saveCredentials(opts.stateDir, result.users);
  report(result, opts.onProgress);
  if (!result.ok) throw stepError(result);
  return {
    version: plan.version,
    steps: result.steps,
    users: result.users.map(({ network, name, sid }) => ({ network, name, sid })),
    refused: plan.refused,
    problems: result.steps.flatMap((s) => s.problems),
  };
}

export async function runUninstall(opts: {
  stateDir: string;
  onProgress?: (m: string) => void;
}): Promise<UninstallResult> {
  opts.onProgress?.('Asking Windows for administrator rights to remove the sandbox accounts, rules and permissions…');
  const result = await requestElevated({
    action: 'uninstall',
    stateDir: opts.stateDir,
    home: os.homedir(),
    grants: [],
  });
  report(result, opts.onProgress);
  if (!result.leftovers.length) deleteCredentials(opts.stateDir);
  if (!result.ok) {
    throw new SandboxError(
      SandboxErrorCode.SetupFailed,
      `Uninstall could not remove everything. Still present: ${result.leftovers.join('; ') || 'see the failed steps'}.`,
      'Run "agent-sandbox uninstall" again as an administrator; remove what is listed by hand if it keeps failing.',
    );
  }
  return { steps: result.steps, leftovers: result.leftovers };
}

function report(result: ElevatedResult, onProgress?: (m: string) => void): void {
  for (const s of result.steps) {
    onProgress?.(`${s.title}: ${s.status}${s.error ? ` [${s.error.code}] ${s.error.message}` : ''}`);
    for (const p of s.problems) onProgress?.(`  problem: ${p}`);
  }
}

function stepError(result: ElevatedResult): SandboxError {
  const f = result.steps.find((s) => s.status === 'failed');
  const code =
    f?.error?.code === SandboxErrorCode.FirewallBlockedByPolicy
      ? SandboxErrorCode.FirewallBlockedByPolicy
      : SandboxErrorCode.SetupFailed;
  return new SandboxError(
    code,
    `Setup stopped at "${f?.title ?? 'an unknown step'}" [${f?.error?.code ?? 'unknown'}]: ` +
      `${f?.error?.message ?? 'no detail'}. What was done so far is kept; running setup again resumes.`,
    f?.error?.fix ?? 'Run "agent-sandbox setup" again.',
  );
}
