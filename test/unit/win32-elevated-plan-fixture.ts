// Test helper (not a test): a win32 plan compiled for elevated mode from a hand-made context, as setup and the
// elevated backend receive it.
import { compilePlan, type Win32Plan } from '../../src/policy';
import type { CompileContext } from '../../src/policy/compile';

export const HOME = 'C:\\Users\\dev';

export function elevatedPlan(
  workspaceRoots: string[],
  ctx: Partial<CompileContext> = {},
  input: object = {},
): Win32Plan {
  const plan = compilePlan(
    { workspaceRoots, ...input },
    {
      platform: 'win32',
      home: HOME,
      userTemp: `${HOME}\\AppData\\Local\\Temp`,
      env: {},
      stateDir: `${HOME}\\AppData\\Local\\AgentSandbox`,
      windowsMode: 'elevated',
      ...ctx,
    },
  );
  if (plan.platform !== 'win32') throw new Error('expected a win32 plan');
  return plan;
}
