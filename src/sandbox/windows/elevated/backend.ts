/**
 * The elevated Windows backend: commands run as AgentSandboxOffline (network offline or allowlist, blocked by the
 * firewall but for the allowlist proxy's loopback ports) or AgentSandboxOnline, through one long-lived runner per account, started once per session with
 * CreateProcessWithLogonW. It runs plans compiled for elevated mode (compile-win32 plans it, with the group SID
 * from setup's marker): setup applied the plan's machine-wide part (accounts, firewall rules, the group's grants);
 * the rest (capability and group grants, protected-path denies, the audit) is prepared here through the
 * unelevated backend's ledger before the first command. Must never run a command when the runner, the logon or the
 * preparation failed, nor a plan compiled for another mode or another setup: each is a SandboxError and nothing runs.
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import type { Network } from '../../../policy';
import type { Plan, PlanSid, Win32Plan } from '../../../policy/plan';
import { createProcessWithLogon, LOGON_FAILURE_CODES } from '../../../../native-bindings/win32/logon';
import { isWin32Error } from '../../../../native-bindings/win32/errors';
import { isWine } from '../../../../native-bindings/win32/wine';
import { SandboxError, SandboxErrorCode } from '../../../errors';
import { Lifetime } from '../../lifetime';
import {
  withProblems,
  type BackendStatus,
  type Enforcement,
  type ExitInfo,
  type SandboxBackend,
  type SandboxProcess,
  type SpawnSpec,
} from '../../types';
import type { PlanFacts } from '../../../policy';
import type { SpawnRequest } from '../../../protocol/windows';
import { machineRuntimeDirs } from '../setup/runtime-dirs';
import type { BackendOptions } from '../../types';
import { ownIdentity } from '../identity';
import { fileSecurityStore } from '../file-store';
import { prepare, preparationSignalFor, resolveAclOps, resolveSid, type Identity } from '../prepare';
import type { ResolvedAclOp } from '../ledger';
import { guardedOps, type AclGuard } from '../guard';
import { guardCommand, startCommandGuard } from '../command-guard';
import { sandboxEnv } from '../win-env';
import { elevatedEnforcement } from '../enforcement';
import { BrokerClient, type RunnerLauncher } from './broker-client';
import { loadCredential } from '../setup/credentials';
import type { Marker } from '../setup/machine';
import { machineRuntimeLayout, runtimeCopyComplete } from '../setup/runtime-copy';
import type { RuntimeLayout } from '../setup/runtime-layout';
import type { FirewallVerdict } from '../firewall-state';
import type { OfflineBlockState } from '../setup/status';
import { BackendDesktop } from '../desktop';
import { ownFilePaths, sealOwnFiles } from '../own-files';
import type { NetworkProxy, ProxyGateway } from '../../../network/proxy';
import { createProxy } from '../../../network/shared';
import { checkGrants, openCommandNetwork, type CommandNetwork } from '../../../network/command-session';
import { openPinnedGateway } from './proxy-ports';

/** Variables the runner is started with: enough for the runtime to start; its own profile comes from Windows. */
const RUNNER_ENV = [
  'SystemRoot',
  'windir',
  'ComSpec',
  'PATHEXT',
  'PATH',
  'SystemDrive',
  'ProgramData',
  'ProgramFiles',
  'ProgramFiles(x86)',
  'ProgramW6432',
  'CommonProgramFiles',
  'CommonProgramFiles(x86)',
  'NUMBER_OF_PROCESSORS',
  'OS',
  'PROCESSOR_ARCHITECTURE',
  'PROCESSOR_IDENTIFIER',
  'PROCESSOR_LEVEL',
  'PROCESSOR_REVISION',
  'PUBLIC',
  'ALLUSERSPROFILE',
];

export function runnerEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = { ELECTRON_RUN_AS_NODE: '1' };
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && RUNNER_ENV.some((n) => n.toUpperCase() === k.toUpperCase())) out[k] = v;
  }
  return out;
}

/** ERROR_SERVICE_DISABLED, ERROR_SERVICE_NOT_ACTIVE: Secondary Logon is off (CIS/STIG baselines disable it). */
const SERVICE_DISABLED = 1058;
const SERVICE_NOT_ACTIVE = 1062;

/** Starts the runner as the account, paying the logon once; one retry with freshly read credentials. */
function logonLauncher(stateDir: string, network: Network, desktop?: string): RunnerLauncher {
  return async (pipes) => {
    const runtime = setupRuntime();
    const commandLine = `"${runtime.application}" "${runtime.script}" --broker --requests ${pipes.requests} --events ${pipes.events}`;
    for (let attempt = 1; ; attempt++) {
      const cred = loadCredential(stateDir, network);
      if (!cred) throw setupRequired(`no stored password for the ${network} sandbox account`);
      try {
        return createProcessWithLogon({
          user: cred.name,
          password: cred.password,
          application: runtime.application,
          commandLine,
          cwd: runtime.cwd,
          env: runnerEnvironment(process.env),
          ...(desktop ? { desktop } : {}),
        });
      } catch (e) {
        if (attempt < 2 && LOGON_FAILURE_CODES.some((c) => isWin32Error(e, c))) continue;
        if (isWin32Error(e, SERVICE_DISABLED) || isWin32Error(e, SERVICE_NOT_ACTIVE)) {
          throw new SandboxError(
            SandboxErrorCode.LogonFailed,
            `Could not log on as ${cred.name}: the Secondary Logon service (seclogon) is not running.`,
            'Set the "Secondary Logon" service to Manual and start it (services.msc), or ask your administrator; running setup again does not help.',
            { cause: e },
          );
        }
        throw new SandboxError(
          SandboxErrorCode.LogonFailed,
          `Could not log on as ${cred.name}: ${(e as Error).message}.`,
          'Run "agent-sandbox setup" again: it resets the sandbox accounts\' passwords (an account policy may have expired or locked them).',
          { cause: e },
        );
      }
    }
  };
}

/**
 * The runner copy setup made for this installation (the sandbox accounts cannot start one inside the profile);
 * none, or one of another version (the extension or the runtime changed since setup), means setup must run again.
 */
function setupRuntime(): RuntimeLayout {
  let layout: RuntimeLayout;
  try {
    layout = machineRuntimeLayout(os.homedir());
  } catch (e) {
    throw setupRequired(`the runner copy cannot be located: ${(e as Error).message}`);
  }
  if (!runtimeCopyComplete(layout)) {
    throw setupRequired(
      `the runner has not been copied to ${layout.dir} for this version of Agent Sandbox and its runtime ` +
        '(installed or updated since setup)',
    );
  }
  return layout;
}

function setupRequired(why: string): SandboxError {
  return new SandboxError(
    SandboxErrorCode.SetupRequired,
    `The elevated Windows sandbox is not usable: ${why}.`,
    'Run "agent-sandbox setup" (or "Agent Sandbox: Set Up Windows Sandbox").',
  );
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

/**
 * The launch weakenings Verify's test hook put in the plan, as the runner's request carries them (none otherwise).
 * The private desktop is the runner's own (its logon named it), so it cannot be left out per command.
 */
export function runnerWeakening(plan: Win32Plan): Pick<SpawnRequest, 'weakened'> {
  const w = plan.weakened;
  const out: NonNullable<SpawnRequest['weakened']> = {
    ...(w?.noPseudoconsole ? { noPseudoconsole: true as const } : {}),
    ...(w?.noUiLimits ? { noUiLimits: true as const } : {}),
  };
  return Object.keys(out).length ? { weakened: out } : {};
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
  if (plan.platform !== 'win32')
    throw new SandboxError(SandboxErrorCode.UnsupportedPlatform, 'Not a win32 plan.', 'Compile for win32.');
  if (plan.mode === 'full-access') {
    throw new SandboxError(
      SandboxErrorCode.InvalidPolicy,
      'full-access plans are not run by the sandbox backend.',
      'Run the command directly, outside Agent Sandbox.',
    );
  }
  const group = plan.accounts?.group;
  if (plan.windowsMode !== 'elevated' || group?.kind !== 'literal' || group.sid !== marker.groupSid) {
    throw new SandboxError(
      SandboxErrorCode.Internal,
      "The plan was not compiled for this machine's elevated setup; nothing was run.",
      "Compile the plan with the backend's planFacts() (every surface does); report this if it came from Agent Sandbox itself.",
    );
  }
  return plan;
}

/**
 * Fail closed: an offline or allowlist command while the firewall does not enforce the offline account's block is
 * refused with the reasons and the fixes, unless the plan accepts it (`requireEnforcedFirewall: false`). Online
 * plans and accepted ones pass (their results report the network as not enforced).
 */
export function firewallRefusal(plan: Win32Plan, verdict: FirewallVerdict): SandboxError | undefined {
  if (plan.network === 'online' || verdict.enforced || plan.acceptUnenforcedFirewall) return undefined;
  return new SandboxError(
    SandboxErrorCode.FirewallNotEnforced,
    `Not run: the ${plan.network} sandbox relies on Windows Defender Firewall, which is not enforcing its block ` +
      `right now: ${verdict.reasons.join('; ')}.`,
    'Turn Windows Defender Firewall on for every network profile (Windows Security > Firewall & network protection); ' +
      'if Group Policy overrides local rules, ask your administrator to remove the override (allow local firewall ' +
      'rules); if the sandbox rules are missing, run "agent-sandbox setup" again. Then run Verify. To run such ' +
      'commands anyway, reported as not network-isolated, set agentSandbox.requireEnforcedFirewall to false.',
  );
}

/** The firewall's verdict as it is now (registry, service and COM reads); Wine has no firewall: not enforced. */
async function readFirewallVerdict(): Promise<FirewallVerdict> {
  if (isWine()) return WINE_FIREWALL;
  const { readFirewallFacts, evaluateFirewall } = await import('../firewall-state');
  try {
    return evaluateFirewall(readFirewallFacts());
  } catch (e) {
    return { enforced: false, reasons: [`the firewall state could not be read (${(e as Error).message})`] };
  }
}

const WINE_FIREWALL: FirewallVerdict = { enforced: false, reasons: ['Wine has no firewall'] };

/** The offline block as it is now (rule read back, firewall state); Wine implements neither, so it reports not enforced. */
async function readOfflineBlock(stateDir: string, marker: Marker): Promise<OfflineBlockState> {
  if (isWine()) return { ruleOk: true, firewall: WINE_FIREWALL };
  const [{ offlineBlockState }, { win32Machine }] = await Promise.all([
    import('../setup/status'),
    import('../setup/machine-win32'),
  ]);
  return offlineBlockState(win32Machine({ stateDir, home: '' }), marker.offlineSid);
}

export function createElevatedBackend(
  opts: BackendOptions,
  marker: Marker,
  launcher = logonLauncher,
  offlineBlock = readOfflineBlock,
  currentFirewall = readFirewallVerdict,
): SandboxBackend {
  const brokers = new Map<Network, Promise<BrokerClient>>();
  // The runners (and so their commands) start on this desktop; Secondary Logon adds each runner's logon SID to it.
  const desktop = new BackendDesktop(() => [marker.offlineSid, marker.onlineSid]);
  let uiGaps: string[] = [];
  let firewall: FirewallVerdict | undefined;
  /** Allowlist: this backend's proxy and its one gateway on a pinned port pair, made on first use. */
  let proxy: NetworkProxy | undefined;
  let gateway: Promise<ProxyGateway> | undefined;
  const allowlistGateway = (): Promise<ProxyGateway> => {
    proxy ??= createProxy(opts.stateDir);
    const gw = (gateway ??= openPinnedGateway(proxy, 'elevated allowlist broker'));
    gw.catch(() => (gateway === gw ? (gateway = undefined) : undefined));
    return gw;
  };

  const prepared = new Map<string, { id: Identity; warnings: string[]; guarded: ResolvedAclOp[] }>();
  const ready = async (plan: Win32Plan, signal?: AbortSignal) => {
    const key = createHash('sha256').update(JSON.stringify(plan)).digest('hex');
    let hit = prepared.get(key);
    if (!hit) {
      const id = ownIdentity(plan, opts.stateDir);
      const sealed = sealOwnFiles(backendPreparation(plan), ownFilePaths());
      // Wine stores no file ACLs: there the read-back becomes a warning saying nothing is enforced (as unelevated).
      const { warnings } = await prepare(sealed, id, fileSecurityStore(opts.stateDir), {
        stateDir: opts.stateDir,
        home: os.homedir(),
        env: process.env,
        onProgress: opts.onProgress,
        tolerateUnstoredAcls: isWine(),
        signal: preparationSignalFor(opts, signal),
      });
      hit = { id, warnings, guarded: guardedOps(resolveAclOps(sealed, id)) };
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
    if (network === 'offline') {
      // Read back at every offline runner start: the rule may be gone since setup (the firewall's state is read
      // before every command, in spawn).
      const block = await offlineBlock(opts.stateDir, marker);
      if (!block.ruleOk)
        throw setupRequired(
          "the offline account's firewall rules are missing or no longer read back as setup wrote them (or setup predates them)",
        );
    }
    const userSid = network === 'offline' ? marker.offlineSid : marker.onlineSid;
    // The desktop is the backend's; the job UI limits are the runner's (its own job is Secondary Logon's, not this
    // process's): its gaps come back in its ready message and are added per command below.
    const { ui, desktopGaps } = desktop.launch();
    uiGaps = desktopGaps;
    const started = BrokerClient.start(userSid, launcher(opts.stateDir, network, ui.desktop));
    brokers.set(network, started);
    return started;
  };

  const enforcementOf = (plan: Plan): Enforcement => elevatedEnforcement(plan, isWine(), firewall);

  return {
    platform: 'win32',
    async status(): Promise<BackendStatus> {
      return {
        state: 'ready',
        summary: 'Elevated Windows sandbox: commands run as a dedicated local account.',
        details: { mode: 'elevated', version: String(marker.version) },
      };
    },
    async planFacts(): Promise<PlanFacts> {
      return { windowsMode: 'elevated', groupSid: marker.groupSid, runtimeDirs: machineRuntimeDirs() };
    },
    async spawn(plan: Plan, spec: SpawnSpec): Promise<SandboxProcess> {
      const p = checkElevatedPlan(plan, marker);
      checkGrants(spec.allowDomains);
      // Offline and allowlist: the firewall's state is read again for every command (it may have been turned off
      // since the last one), and the command is refused unless it enforces the block or the plan accepts that.
      let verdict: FirewallVerdict | undefined;
      if (p.network !== 'online') {
        verdict = firewall = await currentFirewall();
        const refusal = firewallRefusal(p, verdict);
        if (refusal) throw refusal;
      }
      const { id, warnings, guarded } = await ready(p, spec.signal);
      // Allowlist commands run as the offline account: its firewall block leaves only the proxy's ports open.
      const b = await broker(p.network === 'online' ? 'online' : 'offline');
      let net: CommandNetwork | undefined;
      // The proxy goes with the plan's allowlist (Verify's bypass hole keeps it while running as the online account).
      if (p.allowlist) {
        const gw = await allowlistGateway();
        net = openCommandNetwork(
          gw,
          p,
          spec.argv,
          spec.allowDomains,
          { host: '127.0.0.1', httpPort: gw.httpPort, socksPort: gw.socksPort },
          false,
        );
      }
      // The protected paths' guard for this command's life (../command-guard), as in the unelevated backend.
      let guard: AclGuard | undefined;
      try {
        guard = await startCommandGuard(opts.stateDir, guarded);
        const env = net ? { ...p.env, set: { ...p.env.set, ...net.env } } : p.env;
        const cmd = b.spawn({
          argv: spec.argv,
          cwd: spec.cwd,
          env: sandboxEnv({ ...p, env }, process.env),
          token: runnerToken(p, id, marker),
          ...(spec.tty ? { tty: spec.tty } : {}),
          ...runnerWeakening(p),
        });
        const proc = supervise(
          cmd,
          spec,
          withProblems(elevatedEnforcement(p, isWine(), verdict), [...warnings, ...uiGaps, ...b.uiGaps]),
          guard,
        );
        if (!net) return proc;
        const session = net;
        void proc.exited.finally(() => session.close());
        return Object.assign(proc, { networkDenials: () => session.denials() });
      } catch (e) {
        guard?.close();
        net?.close();
        throw e;
      }
    },
    enforcement: enforcementOf,
    async dispose(): Promise<void> {
      const all = [...brokers.values()];
      brokers.clear();
      prepared.clear();
      await Promise.all(all.map(async (b) => (await b.catch(() => undefined))?.close()));
      const p = proxy;
      const gw = gateway;
      proxy = undefined;
      gateway = undefined;
      await (await gw?.catch(() => undefined))?.close();
      await p?.close();
      desktop.close();
    },
  };
}

function supervise(
  cmd: ReturnType<BrokerClient['spawn']>,
  spec: SpawnSpec,
  enforcement: Enforcement,
  guard?: AclGuard,
): SandboxProcess {
  const lifetime = new Lifetime(spec, () => cmd.terminate());
  const guarded = guardCommand(guard, lifetime);
  void cmd.exited.catch(() => guard?.close());
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
    return guarded(lifetime.finishWithoutSignals(code));
  });
  lifetime.arm();
  return {
    stdin: inherit ? null : cmd.stdin,
    stdout: inherit ? null : cmd.stdout,
    stderr: inherit ? null : cmd.stderr,
    exited,
    kill: () => lifetime.kill(),
    resize: (cols, rows) => cmd.resize(cols, rows),
    enforcement,
  };
}
