/**
 * A small step machine for elevated setup and uninstall. Steps run in order; each is idempotent (checks, applies
 * what is missing, reads back), so resuming after a failure is simply running again. The first failing step stops
 * the run, carries a stable error code and a fix, and the later steps are reported as skipped. Pure: the steps do
 * the work through whatever host they close over.
 */
import type { StepOutcome } from './payload';

export interface Step {
  id: string;
  title: string;
  /** Stable code reported when this step fails, unless `classify` picks a more specific one. */
  errorCode: string;
  fix: string;
  /** Returns whether anything changed, and problems that did not stop the step (one folder refused, say). */
  run(): Promise<{ changed: boolean; problems?: string[] }>;
  classify?(e: unknown): { code: string; fix: string } | undefined;
}

export interface StepRun {
  ok: boolean;
  outcomes: StepOutcome[];
}

export async function runSteps(steps: Step[], onProgress?: (message: string) => void): Promise<StepRun> {
  const outcomes: StepOutcome[] = [];
  let failed = false;
  for (const step of steps) {
    if (failed) {
      outcomes.push({ id: step.id, title: step.title, status: 'skipped', problems: [] });
      continue;
    }
    onProgress?.(step.title);
    try {
      const r = await step.run();
      outcomes.push({
        id: step.id,
        title: step.title,
        status: r.changed ? 'changed' : 'unchanged',
        problems: r.problems ?? [],
      });
    } catch (e) {
      failed = true;
      const specific = step.classify?.(e);
      outcomes.push({
        id: step.id,
        title: step.title,
        status: 'failed',
        problems: [],
        error: { code: specific?.code ?? step.errorCode, message: describeError(e), fix: specific?.fix ?? step.fix },
      });
    }
  }
  return { ok: !failed, outcomes };
}

/** Like runSteps, but every step runs even after a failure (uninstall removes as much as it can). */
export async function runAllSteps(steps: Step[], onProgress?: (message: string) => void): Promise<StepRun> {
  const outcomes: StepOutcome[] = [];
  for (const step of steps) outcomes.push(...(await runSteps([step], onProgress)).outcomes);
  return { ok: outcomes.every((o) => o.status !== 'failed'), outcomes };
}

function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
