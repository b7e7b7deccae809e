/**
 * The elevated Windows backend: commands run as AgentSandboxOffline (network offline, blocked by the firewall)
 * or AgentSandboxOnline, through one long-lived runner per account, started once per session with
 * CreateProcessWithLogonW. It runs plans compiled for elevated mode (compile-win32 plans it, with the group SID
 * from setup's marker): setup applied the plan's machine-wide part (accounts, firewall rule, the group's grants);
 * the rest (capability and group grants, protected-path denies, the audit) is prepared here through the
 * unelevated backend's ledger before the first command. Must never run a command when the runner, the logon or the
 * preparation failed, nor a plan compiled for another mode or another setup: each is a SandboxError and nothing runs.
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Network } from '../../../policy';
import type { Plan, PlanSid, Win32Plan } from '../../../policy/plan';
import { createProcessWithLogon, LOGON_FAILURE_CODES } from '../../../../native-bindings/win32/logon';
import { isWin32Error } from '../../../../native-bindings/win32/errors';
import { isWine } from '../../../../native-bindings/win32/wine';
import { SandboxError, SandboxErrorCode } from '../../../errors';
import { Lifetime } from '../../lifetime';
import { withProblems, type BackendStatus, type Enforcement, type ExitInfo, type SandboxBackend, type SandboxProcess,
  type SpawnSpec } from '../../types';
import type { PlanFacts } from '../../../policy';
import type { SpawnRequest } from '../../../protocol/windows';
import { machineRuntimeDirs } from '../setup/runtime-dirs';
import type { BackendOptions } from '../../types';
import { ownIdentity } from '../identity';
import { fileSecurityStore } from '../file-store';
import { prepare, preparationSignalFor, resolveSid, type Identity } from '../prepare';
import { sandboxEnv } from '../win-env';
import { elevatedEnforcement } from '../enforcement';
import { BrokerClient, type RunnerLauncher } from './broker-client';
import { loadCredential } from '../setup/credentials';
import type { Marker } from '../setup/machine';
import { runnerScript } from '../runner-script';

/** Variables the runner is started with: enough for the runtime to start; its own profile comes from Windows. */
const RUNNER_ENV = ['SystemRoot', 'windir', 'ComSpec', 'PATHEXT', 'PATH', 'SystemDrive', 'ProgramData', 'ProgramFiles',
  'ProgramFiles(x86)', 'ProgramW6432', 'CommonProgramFiles', 'CommonProgramFiles(x86)', 'NUMBER_OF_PROCESSORS', 'OS',
  'PROCESSOR_ARCHITECTURE', 'PROCESSOR_IDENTIFIER', 'PROCESSOR_LEVEL', 'PROCESSOR_REVISION', 'PUBLIC', 'ALLUSERSPROFILE'];

export function runnerEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = { ELECTRON_RUN_AS_NODE: '1' };
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && RUNNER_ENV.some((n) => n.toUpperCase() === k.toUpperCase())) out[k] = v;
  }
  return out;
}

/** Starts the runner as the account, paying the logon once; one retry with freshly read credentials. */
function logonLauncher(stateDir: string, network: Network): RunnerLauncher {
  return async (pipes) => {
    const script = runnerScript();
    const commandLine = `"${process.execPath}" "${script}" --broker --requests ${pipes.requests} --events ${pipes.events}`;
    for (let attempt = 1; ; attempt++) {
      const cred = loadCredential(stateDir, network);
      if (!cred) throw setupRequired(`no stored password for the ${network} sandbox account`);
      try {
        return createProcessWithLogon({ user: cred.name, password: cred.password, application: process.execPath, commandLine,
          cwd: path.dirname(script), env: runnerEnvironment(process.env) });
      } catch (e) {
        if (attempt < 2 && LOGON_FAILURE_CODES.some((c) => isWin32Error(e, c))) continue;
        throw new SandboxError(SandboxErrorCode.LogonFailed, `Could not log on as ${cred.name}: ${(e as Error).message}.`,
          'Run "agent-sandbox setup" again: it resets the sandbox accounts\' passwords (an account policy may have expired or locked them).',
          { cause: e });
      }
    }
  };
}

function setupRequired(why: string): SandboxError {
  return new SandboxError(SandboxErrorCode.SetupRequired, `The elevated Windows sandbox is not usable: ${why}.`,
    'Run "agent-sandbox setup" (or "Agent Sandbox: Set Up Windows Sandbox").');
}


/** Resolves a token SID for the runner: the runner substitutes its own logon SID for "logon". */
export function runnerSid(s: PlanSid, id: Identity, marker: Marker): string {
  switch (s.kind) {
    case 'logon':
      return 'logon';
    case 'sandbox-group':
      return marker.groupSid;
    case 'sandbox-user':
      return s.network === 'offline' ? marker.offlineSid : marker.onlineSid;
    default:
      return resolveSid(s, id);
  }
}

/** The part of an elevated plan the backend prepares: everything but the runtime grants, which setup applied. */
export function backendPreparation(plan: Win32Plan): Win32Plan {
  return { ...plan, acl: plan.acl.filter((op) => op.reason !== 'runtime-read') };
}

/** The command's token for the runner, every SID resolved ("logon" stays symbolic: the runner fills in its own). */
export function runnerToken(plan: Win32Plan, id: Identity, marker: Marker): SpawnRequest['token'] {
  return {
    flags: plan.token.flags.value,
    restrictingSids: plan.token.restrictingSids.map((s) => runnerSid(s, id, marker)),
    keepPrivileges: plan.token.keepPrivileges,
    defaultDacl: plan.token.defaultDacl.map((d) => ({ sid: runnerSid(d.sid, id, marker), mask: d.mask.value })),
  };
}

/** Refuses a plan this backend must not run: another mode, or a group SID other than this machine's setup. */
export function checkElevatedPlan(plan: Plan, marker: Marker): Win32Plan {
  if (plan.platform !== 'win32') throw new SandboxError(SandboxErrorCode.UnsupportedPlatform, 'Not a win32 plan.', 'Compile for win32.');
  if (plan.mode === 'full-access') {
    throw new SandboxError(SandboxErrorCode.InvalidPolicy, 'full-access plans are not run by the sandbox backend.',
      'Run the command directly, outside Agent Sandbox.');
  }
  const group = plan.accounts?.group;
  if (plan.windowsMode !== 'elevated' || group?.kind !== 'literal' || group.sid !== marker.groupSid) {
    throw new SandboxError(SandboxErrorCode.Internal, 'The plan was not compiled for this machine\'s elevated setup; nothing was run.',
      'Compile the plan with the backend\'s planFacts() (every surface does); report this if it came from Agent Sandbox itself.');
  }
  return plan;
}

export function createElevatedBackend(opts: BackendOptions, marker: Marker, launcher = logonLauncher): SandboxBackend {
  const brokers = new Map<Network, Promise<BrokerClient>>();

  const prepared = new Map<string, { id: Identity; warnings: string[] }>();
  const ready = async (plan: Win32Plan, signal?: AbortSignal) => {
    const key = createHash('sha256').update(JSON.stringify(plan)).digest('hex');
    let hit = prepared.get(key);
    if (!hit) {
      const id = ownIdentity(plan, opts.stateDir);
      // Wine stores no file ACLs: there the read-back becomes a warning saying nothing is enforced (as unelevated).
      const { warnings } = await prepare(backendPreparation(plan), id, fileSecurityStore(opts.stateDir), { stateDir: opts.stateDir, home: os.homedir(),
        env: process.env, onProgress: opts.onProgress, tolerateUnstoredAcls: isWine(), signal: preparationSignalFor(opts, signal) });
      hit = { id, warnings };
      prepared.set(key, hit);
    }
    return hit;
  };

  const broker = async (network: Network): Promise<BrokerClient> => {
    const existing = brokers.get(network);
    if (existing) {
      const b = await existing.catch(() => undefined);
      if (b?.alive) return b;
    }
    const userSid = network === 'offline' ? marker.offlineSid : marker.onlineSid;
    const started = BrokerClient.start(userSid, launcher(opts.stateDir, network));
    brokers.set(network, started);
    return started;
  };

  const enforcementOf = (plan: Plan): Enforcement => elevatedEnforcement(plan, isWine());

  return {
    platform: 'win32',
    async status(): Promise<BackendStatus> {
      return { state: 'ready', summary: 'Elevated Windows sandbox: commands run as a dedicated local account.',
        details: { mode: 'elevated', version: String(marker.version) } };
    },
    async planFacts(): Promise<PlanFacts> {
      return { windowsMode: 'elevated', groupSid: marker.groupSid, runtimeDirs: machineRuntimeDirs() };
    },
    async spawn(plan: Plan, spec: SpawnSpec): Promise<SandboxProcess> {
      const p = checkElevatedPlan(plan, marker);
      const { id, warnings } = await ready(p, spec.signal);
      const b = await broker(p.network);
      const cmd = b.spawn({ argv: spec.argv, cwd: spec.cwd, env: sandboxEnv(p, process.env), token: runnerToken(p, id, marker),
        ...(spec.tty ? { tty: spec.tty } : {}) });
      return supervise(cmd, spec, withProblems(enforcementOf(p), warnings));
    },
    enforcement: enforcementOf,
    async dispose(): Promise<void> {
      const all = [...brokers.values()];
      brokers.clear();
      prepared.clear();
      await Promise.all(all.map(async (b) => (await b.catch(() => undefined))?.close()));
    },
  };
}

function supervise(cmd: ReturnType<BrokerClient['spawn']>, spec: SpawnSpec, enforcement: Enforcement): SandboxProcess {
  const lifetime = new Lifetime(spec, () => cmd.terminate());
  const inherit = spec.stdio === 'inherit';
  if (inherit) {
    cmd.stdout.pipe(process.stdout, { end: false });
    cmd.stderr.pipe(process.stderr, { end: false });
    process.stdin.pipe(cmd.stdin);
  }
  const exited = cmd.exited.then((code): ExitInfo => {
    if (inherit) {
      process.stdin.unpipe(cmd.stdin);
      process.stdin.pause();
    }
    return lifetime.finishWithoutSignals(code);
  });
  lifetime.arm();
  return { stdin: inherit ? null : cmd.stdin, stdout: inherit ? null : cmd.stdout, stderr: inherit ? null : cmd.stderr, exited,
    kill: () => lifetime.kill(), resize: (cols, rows) => cmd.resize(cols, rows), enforcement };
}
