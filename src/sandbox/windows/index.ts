/**
 * The Windows backend. An unelevated plan runs here: a restricted token, per-workspace capability SIDs, ledgered
 * ACL grants/denies, the world-writable audit, a kill-on-close job, named-pipe stdio and ConPTY; an elevated plan
 * goes to the elevated backend (./elevated). `planFacts()` says which mode this machine is set up for, before
 * compiling. Preparation (ACLs, audit) runs once per plan per backend instance. Bindings load on first use.
 * Must never run a command when the sandbox could not be applied; under Wine it runs, but reports that nothing
 * is enforced.
 */
import * as os from 'node:os';
import { createHash } from 'node:crypto';
import type { Plan, Win32Plan } from '../../policy/plan';
import { SandboxError, SandboxErrorCode } from '../../errors';
import {
  withProblems,
  type BackendStatus,
  type BackendOptions,
  type Enforcement,
  type SandboxBackend,
  type SandboxProcess,
  type SpawnSpec,
} from '../types';
import type { PlanFacts } from '../../policy';
import { isWine, wineVersion } from '../../../native-bindings/win32/wine';
import { ownIdentity, processSids } from './identity';
import { knownCapabilitySids } from './capabilities';
import { BackendDesktop } from './desktop';
import { ownFilePaths, sealOwnFiles } from './own-files';
import { refuseElevatedCaller } from './elevated-caller';
import { openProcessToken, tokenElevationType } from '../../../native-bindings/win32/token';

function ownElevationType(): number {
  using t = openProcessToken();
  return tokenElevationType(t);
}
import { fileSecurityStore } from './file-store';
import { prepare, preparationSignalFor, resolveAclOps, type Identity } from './prepare';
import { guardedOps } from './guard';
import { startCommandGuard } from './command-guard';
import type { ResolvedAclOp } from './ledger';
import type { RevertResult } from './ledger';
import { spawnUnelevated, writeNetworkStubs } from './spawn';
import { weakenedUi } from './ui-isolation';
import { sandboxEnv } from './win-env';
import { checkGrants, openCommandNetwork, withOwnGateway } from '../../network/command-session';
import type { NetworkProxy } from '../../network/proxy';
import { createProxy } from '../../network/shared';
import { elevatedEnforcement, unelevatedEnforcement, WINE_NOTE } from './enforcement';

function asWin32(plan: Plan): Win32Plan {
  if (plan.platform !== 'win32') {
    throw new SandboxError(
      SandboxErrorCode.UnsupportedPlatform,
      `A ${plan.platform} plan cannot run on Windows.`,
      'Compile the plan with --platform win32.',
    );
  }
  return plan;
}

const planKey = (plan: Win32Plan) => createHash('sha256').update(JSON.stringify(plan)).digest('hex');

export function createWindowsBackend(opts: BackendOptions): SandboxBackend {
  const prepared = new Map<string, { id: Identity; warnings: string[]; guarded: ResolvedAclOp[] }>();
  // The sandbox's logon SID (a restricting SID) is the developer's: it is what passes both access checks.
  const desktop = new BackendDesktop(() => [processSids().logonSid]);
  const elevated = async () => (await import('./elevated')).loadElevatedBackend(opts);

  /** Allowlist mode: this backend's proxy, made on first use and stopped with the backend. */
  let proxy: NetworkProxy | undefined;

  /**
   * Unelevated allowlist (advisory): a gateway on two loopback ports for this command, and the proxy variables
   * with its credential. Nothing stops a program that ignores them; the plan, results and Verify say so.
   */
  const spawnAllowlisted = async (
    p: Win32Plan,
    spec: SpawnSpec,
    id: Identity,
    warnings: string[],
    guarded: ResolvedAclOp[],
  ): Promise<SandboxProcess> => {
    proxy ??= createProxy(opts.stateDir);
    const gw = await proxy.openGateway(spec.argv.join(' ').slice(0, 200), 'tcp');
    try {
      const net = openCommandNetwork(
        gw,
        p,
        spec.argv,
        spec.allowDomains,
        { host: '127.0.0.1', httpPort: gw.httpPort, socksPort: gw.socksPort },
        true,
      );
      const env = sandboxEnv({ ...p, env: { ...p.env, set: { ...p.env.set, ...net.env } } }, process.env);
      const { ui, gaps } = desktop.launch();
      const proc = await spawnGuarded(p, spec, id, env, weakenedUi(ui, p.weakened), guarded);
      return withOwnGateway(
        Object.assign(proc, { enforcement: withProblems(unelevatedEnforcement(p, isWine()), [...warnings, ...gaps]) }),
        gw,
        net,
      );
    } catch (e) {
      await gw.close();
      throw e;
    }
  };

  /** Concurrent first spawns of one plan each prepare; prepare() serializes them, so the later ones only skip. */
  const ready = async (plan: Win32Plan, signal?: AbortSignal) => {
    const key = planKey(plan);
    const hit = prepared.get(key);
    if (hit) return hit;
    const id = ownIdentity(plan, opts.stateDir);
    const sealed = sealOwnFiles(plan, ownFilePaths());
    const { warnings } = await prepare(sealed, id, fileSecurityStore(opts.stateDir), {
      stateDir: opts.stateDir,
      home: os.homedir(),
      env: process.env,
      onProgress: opts.onProgress,
      tolerateUnstoredAcls: isWine(),
      signal: preparationSignalFor(opts, signal),
    });
    const first = prepared.get(key); // a concurrent spawn finished first
    if (first) return first;
    const entry = { id, warnings, guarded: guardedOps(resolveAclOps(sealed, id)) };
    prepared.set(key, entry);
    return entry;
  };

  /** Starts the command with its guard, closing the guard when the start fails. */
  const spawnGuarded = async (
    p: Win32Plan,
    spec: SpawnSpec,
    id: Identity,
    env: Record<string, string>,
    ui: Parameters<typeof spawnUnelevated>[4],
    ops: ResolvedAclOp[],
  ) => {
    const guard = await startCommandGuard(opts.stateDir, ops);
    try {
      return await spawnUnelevated(p, spec, id, env, ui, guard);
    } catch (e) {
      guard.close();
      throw e;
    }
  };

  return {
    platform: 'win32',
    async status(): Promise<BackendStatus> {
      return {
        state: 'ready',
        summary: isWine() ? WINE_NOTE : 'Unelevated Windows sandbox: restricted token, ACL grants, kill-on-close job.',
        details: { mode: 'unelevated', ...(isWine() ? { wine: wineVersion() ?? '' } : {}) },
      };
    },
    /** Elevated mode once setup is done for this user (its marker and stored credentials), otherwise unelevated. */
    async planFacts(): Promise<PlanFacts> {
      // Capability SIDs minted by earlier runs: the plan then shows the SIDs its ACEs carry (new roots mint at prepare).
      const capabilitySids = knownCapabilitySids(opts.stateDir);
      return { ...((await (await elevated())?.planFacts()) ?? { windowsMode: 'unelevated' }), capabilitySids };
    },
    async spawn(plan: Plan, spec: SpawnSpec): Promise<SandboxProcess> {
      const p = asWin32(plan);
      checkGrants(spec.allowDomains);
      if (p.mode === 'full-access') {
        throw new SandboxError(
          SandboxErrorCode.InvalidPolicy,
          'full-access plans are not run by the sandbox backend.',
          'Run the command directly, outside Agent Sandbox.',
        );
      }
      // The plan decides the mode (planFacts() chose it before compiling); this backend never switches it.
      if (p.windowsMode === 'elevated') {
        const backend = await elevated();
        if (!backend) {
          throw new SandboxError(
            SandboxErrorCode.SetupRequired,
            'The elevated Windows sandbox is not set up.',
            'Run "Agent Sandbox: Set Up Windows Sandbox", or use the unelevated mode.',
          );
        }
        return backend.spawn(p, spec);
      }
      refuseElevatedCaller(ownElevationType(), isWine());
      const { id, warnings, guarded } = await ready(p, spec.signal);
      if (p.network === 'allowlist') return spawnAllowlisted(p, spec, id, warnings, guarded);
      const stubs = p.networkEnforcement === 'advisory' ? writeNetworkStubs(opts.stateDir) : undefined;
      const { ui, gaps } = desktop.launch();
      const env = sandboxEnv(p, spec.env ?? process.env, stubs);
      const proc = await spawnGuarded(p, spec, id, env, weakenedUi(ui, p.weakened), guarded);
      return Object.assign(proc, {
        enforcement: withProblems(unelevatedEnforcement(p, isWine()), [...warnings, ...gaps]),
      });
    },
    enforcement(plan: Plan): Enforcement {
      const p = asWin32(plan);
      if (p.windowsMode === 'elevated') return elevatedEnforcement(p, isWine());
      return withProblems(unelevatedEnforcement(p, isWine()), prepared.get(planKey(p))?.warnings ?? []);
    },
    async dispose(): Promise<void> {
      prepared.clear();
      const p = proxy;
      proxy = undefined;
      await p?.close();
      desktop.close();
    },
  };
}

/** "Remove this workspace" on the real file system: see `removeWorkspace` in ./uninstall. */
export async function removeWindowsWorkspace(
  stateDir: string,
  root: string,
): Promise<RevertResult & { sids: string[] }> {
  return (await import('./uninstall')).removeWorkspace(stateDir, root, fileSecurityStore(stateDir));
}
