/**
 * The Windows backend (unelevated mode): executes a win32 plan with a restricted token, per-workspace capability
 * SIDs, ledgered ACL grants/denies, the world-writable audit, a kill-on-close job, named-pipe stdio and ConPTY.
 * Preparation (ACLs, audit) runs once per plan per backend instance. Bindings load on first use, never at import.
 * Must never run a command when the sandbox could not be applied; under Wine it runs, but reports that nothing
 * is enforced.
 */
import * as os from 'node:os';
import { createHash } from 'node:crypto';
import type { Plan, Win32Plan } from '../../policy/plan';
import { SandboxError, SandboxErrorCode } from '../errors';
import type { BackendStatus, Enforcement, SandboxBackend, SandboxProcess, SpawnSpec } from '../types';
import type { BackendOptions } from '..';
import { isWine, wineVersion } from '../../../native-bindings/win32/wine';
import { ownIdentity } from './identity';
import { fileSecurityStore } from './file-store';
import { prepare, preparationSignalFor, revertUnelevatedAcls, type Identity } from './prepare';
import type { RevertResult } from './ledger';
import { spawnUnelevated, writeNetworkStubs } from './spawn';
import { sandboxEnv } from './win-env';
import { checkGrants, openCommandNetwork, withOwnGateway } from '../../network/command-session';
import type { NetworkProxy } from '../../network/proxy';
import { createProxy } from '../../network/shared';

const WINE_NOTE = 'Running under Wine: restricted tokens, file ACLs and the network are NOT enforced (plumbing only).';

function asWin32(plan: Plan): Win32Plan {
  if (plan.platform !== 'win32') {
    throw new SandboxError(SandboxErrorCode.UnsupportedPlatform, `A ${plan.platform} plan cannot run on Windows.`,
      'Compile the plan with --platform win32.');
  }
  return plan;
}


/** The Windows backend, plus an explicit preparation step the extension runs ahead of the first command. */
export interface WindowsBackend extends SandboxBackend {
  /** Applies the plan's ACLs and audit now (normally done on the first spawn); returns warnings to show. */
  prepare(plan: Plan, signal?: AbortSignal): Promise<{ warnings: string[] }>;
}

const planKey = (plan: Win32Plan) => createHash('sha256').update(JSON.stringify(plan)).digest('hex');

export function createWindowsBackend(opts: BackendOptions): WindowsBackend {
  const prepared = new Map<string, { id: Identity; warnings: string[] }>();
  /** The elevated backend, once a spawn found setup done; enforcement() then describes it. */
  let elevatedBackend: SandboxBackend | undefined;

  /** Allowlist mode: this backend's proxy, made on first use and stopped with the backend. */
  let proxy: NetworkProxy | undefined;

  /**
   * Unelevated allowlist (advisory): a gateway on two loopback ports for this command, and the proxy variables
   * with its credential. Nothing stops a program that ignores them; the plan, results and Verify say so.
   */
  const spawnAllowlisted = async (p: Win32Plan, spec: SpawnSpec, id: Identity): Promise<SandboxProcess> => {
    proxy ??= createProxy(opts.stateDir);
    const gw = await proxy.openGateway(spec.argv.join(' ').slice(0, 200), 'tcp');
    try {
      const net = openCommandNetwork(gw, p, spec.argv, spec.allowDomains,
        { host: '127.0.0.1', httpPort: gw.httpPort, socksPort: gw.socksPort }, true);
      const env = sandboxEnv({ ...p, env: { ...p.env, set: { ...p.env.set, ...net.env } } }, process.env);
      return withOwnGateway(await spawnUnelevated(p, spec, id, env), gw, net);
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
    const { warnings } = await prepare(plan, id, fileSecurityStore, { stateDir: opts.stateDir, home: os.homedir(), env: process.env,
      onProgress: opts.onProgress, tolerateUnstoredAcls: isWine(), signal: preparationSignalFor(opts, signal) });
    const first = prepared.get(key); // a concurrent spawn finished first
    if (first) return first;
    for (const w of warnings) process.emitWarning(w, 'AgentSandboxWarning');
    prepared.set(key, { id, warnings });
    return { id, warnings };
  };

  return {
    platform: 'win32',
    async prepare(plan: Plan, signal?: AbortSignal) {
      return { warnings: (await ready(asWin32(plan), signal)).warnings };
    },
    async status(): Promise<BackendStatus> {
      return {
        state: 'ready',
        summary: isWine() ? WINE_NOTE : 'Unelevated Windows sandbox: restricted token, ACL grants, kill-on-close job.',
        details: { mode: 'unelevated', ...(isWine() ? { wine: wineVersion() ?? '' } : {}) },
      };
    },
    async spawn(plan: Plan, spec: SpawnSpec): Promise<SandboxProcess> {
      const p = asWin32(plan);
      checkGrants(spec.allowDomains);
      // ELEVATED HOOK (issue 5): once the elevated setup is done, the elevated backend runs the command.
      const elevated = p.mode === 'full-access' ? undefined : await (await import('./elevated')).loadElevatedBackend(opts);
      elevatedBackend = elevated;
      if (elevated && p.network === 'allowlist') {
        throw new SandboxError(SandboxErrorCode.UnsupportedPlatform,
          'The network allowlist is not run by the elevated Windows sandbox yet (its firewall scope for the proxy is ' +
          'planned, not set up); nothing was run.', 'Use network "offline" or "online" with the elevated sandbox for now.');
      }
      if (elevated) return elevated.spawn(p, spec);
      if (p.windowsMode === 'elevated') {
        throw new SandboxError(SandboxErrorCode.SetupRequired, 'The elevated Windows sandbox is not set up.',
          'Run "Agent Sandbox: Set Up Windows Sandbox", or use the unelevated mode.');
      }
      if (p.mode === 'full-access') {
        throw new SandboxError(SandboxErrorCode.InvalidPolicy, 'full-access plans are not run by the sandbox backend.',
          'Run the command directly, outside Agent Sandbox.');
      }
      const { id } = await ready(p, spec.signal);
      if (p.network === 'allowlist') return spawnAllowlisted(p, spec, id);
      const stubs = p.networkEnforcement === 'advisory' ? writeNetworkStubs(opts.stateDir) : undefined;
      return spawnUnelevated(p, spec, id, sandboxEnv(p, process.env, stubs));
    },
    enforcement(plan: Plan): Enforcement {
      const p = asWin32(plan);
      if (elevatedBackend) return elevatedBackend.enforcement(p);
      const prepareNotes = prepared.get(planKey(p))?.warnings ?? [];
      if (isWine()) return { filesystem: 'none', network: 'none', notes: [WINE_NOTE, ...prepareNotes] };
      return {
        filesystem: 'partial',
        network: p.networkEnforcement === 'firewall' ? 'enforced' : p.networkEnforcement === 'advisory' ? 'advisory' : 'none',
        notes: ['Writes are limited by a write-restricted token and ACLs; reads are not restricted in unelevated mode.',
          ...(p.networkEnforcement === 'advisory' ? [p.network === 'allowlist'
            ? 'The network allowlist is advisory only: clients that honour the proxy variables are filtered; nothing stops the others.'
            : 'Offline is advisory only: proxy variables point nowhere and ssh/scp are stubbed.'] : []),
          ...prepareNotes],
      };
    },
    async dispose(): Promise<void> {
      prepared.clear();
      const p = proxy;
      proxy = undefined;
      await p?.close();
    },
  };
}

/**
 * Undoes every ACE the unelevated backend recorded in `stateDir`'s ledger (for Uninstall), or only those of the
 * given capability SIDs (for "remove this workspace"). Records that fail stay in the ledger for the next try; the
 * elevated setup's records are left to the elevated uninstall.
 */
export function revertWindowsAcls(stateDir: string, capabilitySids?: string[]): RevertResult {
  return revertUnelevatedAcls(stateDir, fileSecurityStore, capabilitySids);
}

/** "Remove this workspace" on the real file system: see `removeWorkspace` in ./uninstall. */
export async function removeWindowsWorkspace(stateDir: string, root: string): Promise<RevertResult & { sid?: string }> {
  return (await import('./uninstall')).removeWorkspace(stateDir, root, fileSecurityStore);
}
