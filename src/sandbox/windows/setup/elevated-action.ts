/**
 * What the elevated process does with a decoded request, over any SetupMachine: setup (steps, then the accounts
 * and passwords for the caller) or uninstall (all steps, then a re-query for leftovers). Pure apart from the
 * machine. Must never return a password for an account whose step did not complete.
 */
import { generatePassword } from './password';
import type { ElevatedRequest, ElevatedResult } from './payload';
import type { SetupMachine } from './machine';
import { buildSetupPlan } from './setup-plan';
import { setupSteps, type SetupState } from './setup-steps';
import { runAllSteps, runSteps } from './steps';
import { leftovers, uninstallSteps } from './uninstall-steps';
import type { RuntimeLayout } from './runtime-layout';

export async function performElevated(
  req: ElevatedRequest,
  m: SetupMachine,
  newPassword: () => string = generatePassword,
  onProgress?: (message: string) => void,
  /** Where setup copies the runner (computed by the elevated process from its own installation). */
  runtime?: () => RuntimeLayout,
): Promise<ElevatedResult> {
  const plan = {
    ...buildSetupPlan({ home: req.home }),
    grants: req.grants,
    ...(req.action === 'setup' && runtime ? { runtime: layoutOrError(runtime) } : {}),
  };
  if (req.action === 'setup') {
    const state: SetupState = { users: [] };
    const run = await runSteps(setupSteps(plan, m, newPassword, state), onProgress);
    const completed = new Set(
      run.outcomes.filter((o) => o.status === 'changed' || o.status === 'unchanged').map((o) => o.id),
    );
    return {
      type: 'result',
      nonce: req.nonce,
      action: 'setup',
      ok: run.ok,
      steps: run.outcomes,
      users: state.users.filter((u) => completed.has(`user-${u.network}`)),
      leftovers: [],
    };
  }
  const run = await runAllSteps(uninstallSteps(m, await m.readMarker()), onProgress);
  const left = await leftovers(plan.firewall, m);
  const aclFailure = run.outcomes.find((o) => o.id === 'acl' && o.error);
  if (aclFailure?.error) left.push(`folder permissions: ${aclFailure.error.message}`);
  return {
    type: 'result',
    nonce: req.nonce,
    action: 'uninstall',
    ok: run.ok && !left.length,
    steps: run.outcomes,
    users: [],
    leftovers: left,
  };
}

function layoutOrError(runtime: () => RuntimeLayout): RuntimeLayout | { error: string } {
  try {
    return runtime();
  } catch (e) {
    return { error: (e as Error)?.message ?? String(e) };
  }
}
