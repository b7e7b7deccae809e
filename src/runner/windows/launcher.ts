/**
 * How the runner starts one command: the shared launcher (sandbox/windows/launch) with a restricted copy of the
 * runner's own token (no privilege needed), "logon" standing for the runner's logon SID. The runner's own profile
 * variables replace the caller's (the sandbox account cannot read the developer's profile).
 * Must never start a command outside its job or with the runner's unrestricted token.
 */
import { processSids } from '../../sandbox/windows/identity';
import { startRestricted, type LaunchUi } from '../../sandbox/windows/launch';
import { outerJob } from '../../../native-bindings/win32/job';
import { jobUiLimits } from '../../sandbox/windows/ui-isolation';
import type { SpawnRequest } from '../../protocol/windows';
import type { LaunchedCommand } from './broker';

/** Variables that describe the account running the command: taken from the runner, never from the caller. */
export const PROFILE_VARS = [
  'USERPROFILE',
  'APPDATA',
  'LOCALAPPDATA',
  'HOMEDRIVE',
  'HOMEPATH',
  'USERNAME',
  'USERDOMAIN',
];

export function commandEnv(requested: Record<string, string>, own: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(requested)) if (!PROFILE_VARS.includes(k.toUpperCase())) env[k] = v;
  for (const k of PROFILE_VARS) {
    const v = own[k];
    if (v !== undefined) env[k] = v;
  }
  return env;
}

let identity: { userSid: string; logonSid: string } | undefined;
let decision: (LaunchUi & { gaps: string[] }) | undefined;

/**
 * The runner already runs on the backend's private desktop (its logon named it), which its commands inherit; it
 * sets the UI limits itself, breaking away from Secondary Logon's job when that job allows it. Decided once per
 * runner; `gaps` says what it could not set and why, for the caller's report (sent in its ready message).
 */
export function runnerUiDecision(job: () => { inJob: boolean; breakawayOk: boolean } = outerJob) {
  // The desktop is the backend's to report (it may have none, e.g. over SSH): no claim about it here.
  return (decision ??= { ...jobUiLimits(job(), false, 'runner') });
}

function runnerUi(): LaunchUi {
  const { uiLimits, breakaway } = runnerUiDecision();
  return { uiLimits, breakaway };
}

export async function launchRestricted(req: SpawnRequest): Promise<LaunchedCommand> {
  const id = (identity ??= processSids());
  const sid = (s: string) => (s === 'logon' ? id.logonSid : s);
  return startRestricted({
    argv: req.argv,
    cwd: req.cwd,
    env: commandEnv(req.env, process.env),
    pipeOwnerSid: id.userSid,
    pipePrefix: 'runner',
    ui: req.weakened?.noUiLimits ? { ...runnerUi(), uiLimits: false } : runnerUi(),
    ...(req.weakened?.noPseudoconsole ? { hiddenConsole: false } : {}),
    ...(req.tty ? { tty: req.tty } : {}),
    token: {
      flags: req.token.flags,
      restrictingSids: req.token.restrictingSids.map(sid),
      keepPrivileges: req.token.keepPrivileges,
      defaultDacl: req.token.defaultDacl.map((d) => ({ sid: sid(d.sid), mask: d.mask })),
    },
  });
}
