/**
 * `agent-sandbox plan`: compile a policy and print the plan, readable or JSON. Never runs anything. On this
 * machine's platform the plan is compiled with the backend's facts (on Windows, the mode setup allows), so it is
 * the plan a command would run with; `--elevated` / `--unelevated` preview a Windows mode on any machine.
 */
import { compilePlan, type PlanFacts } from '../policy';
import { backendFor, defaultStateDir, hostContext, hostPlatform, previewFacts } from '../sandbox';
import { parse, platformFlag, policyInput, POLICY_HELP, POLICY_OPTIONS, UsageError } from './args';
import type { CliCommand } from './commands';
import { renderPlan } from '../policy/render';

export const planCommand: CliCommand = {
  usage: `Usage: agent-sandbox plan [options] [--json]

Prints what the sandbox would do: writable and protected paths, hidden credentials, environment changes, and the
platform's bubblewrap/Landlock/seccomp rules or Windows token, ACL and firewall operations.

${POLICY_HELP}
  --elevated            Windows: preview elevated mode (sandbox accounts, their firewall rule, the group's grants),
                        whether or not setup was done on this machine.
  --unelevated          Windows: preview unelevated mode.
  --json                Print the plan as JSON.`,
  async main(argv) {
    const { values } = parse(
      argv,
      {
        ...POLICY_OPTIONS,
        json: { type: 'boolean', default: false },
        elevated: { type: 'boolean', default: false },
        unelevated: { type: 'boolean', default: false },
      },
      false,
    );
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const platform = platformFlag(values, hostPlatform());
    const cross = platform !== hostPlatform();
    if ((values.elevated || values.unelevated) && platform !== 'win32')
      throw new UsageError('--elevated and --unelevated apply to --platform win32.');
    if (values.elevated && values.unelevated) throw new UsageError('Pass --elevated or --unelevated, not both.');
    const mode = values.elevated ? 'elevated' : values.unelevated ? 'unelevated' : undefined;
    const facts: PlanFacts = mode
      ? await previewFacts(mode)
      : cross
        ? {}
        : await (await backendFor(platform, { stateDir: defaultStateDir(), broker: false })).planFacts();
    const ctx = {
      ...(cross ? previewContext(platform) : hostContext({ platform, allowMissingRoots: true })),
      ...facts,
    };
    const plan = compilePlan(
      policyInput(values, cross ? ctx.home + (platform === 'win32' ? '\\repo' : '/repo') : process.cwd()),
      ctx,
    );
    console.log(values.json ? JSON.stringify(plan, null, 2) : renderPlan(plan));
    return 0;
  },
};

/** A context for previewing another platform's plan: typical paths, no disk access. */
function previewContext(platform: 'linux' | 'win32') {
  return platform === 'win32'
    ? {
        platform,
        home: 'C:\\Users\\dev',
        userTemp: 'C:\\Users\\dev\\AppData\\Local\\Temp',
        env: {
          USERPROFILE: 'C:\\Users\\dev',
          APPDATA: 'C:\\Users\\dev\\AppData\\Roaming',
          LOCALAPPDATA: 'C:\\Users\\dev\\AppData\\Local',
        },
        stateDir: 'C:\\Users\\dev\\AppData\\Local\\AgentSandbox',
        auditPaths: ['C:\\', 'C:\\Users\\Public', 'C:\\ProgramData'],
      }
    : { platform, home: '/home/dev', userTemp: '/tmp', env: {}, stateDir: '/home/dev/.local/state/agent-sandbox' };
}
