/**
 * Backend selection: an exhaustive switch over the platform that throws on anything unknown. Backends are loaded
 * lazily so importing this module never loads a native library.
 */
import type { Plan, PlanFacts } from '../policy';
import { assertNever } from '../policy/paths';
import { SandboxError, SandboxErrorCode } from '../errors';
import type { BackendOptions, SandboxBackend } from './types';

export * from './types';
export * from '../errors';
export * from './lifecycle';
export { weakerThanAsked } from './weaker';
export { watchNestedGit } from './nested-git';
export { defaultStateDir, hostContext, hostPlatform, realFs } from './host';
export type { Listed } from '../protocol/warm';

/** This user's warm brokers (`agent-sandbox broker status`): over Unix sockets on Linux, named pipes on Windows. */
export async function listBrokers(stateDir?: string): Promise<import('../protocol/warm').Listed[]> {
  return (await warmControl()).listBrokers(stateDir);
}

/** Stops this user's warm brokers (of one state folder, when given): `broker stop` and uninstall. */
export async function stopBrokers(stateDir?: string): Promise<import('../protocol/warm').BrokerStatus[]> {
  return (await warmControl()).stopBrokers(stateDir);
}

async function warmControl(): Promise<typeof import('./linux/warm-control')> {
  return process.platform === 'win32' ? import('./windows/warm-control') : import('./linux/warm-control');
}

/** The Linux pieces the CLI's warm broker daemon is built from (loaded lazily: they load koffi). */
export async function linuxWarm(): Promise<typeof import('./linux/warm')> {
  return import('./linux/warm');
}

const cache = new Map<string, SandboxBackend>();

export async function backendFor(platform: Plan['platform'], opts: BackendOptions): Promise<SandboxBackend> {
  if (platform !== process.platform) {
    throw new SandboxError(
      SandboxErrorCode.UnsupportedPlatform,
      `A ${platform} plan cannot run on ${process.platform}.`,
      `Use --platform ${process.platform}, or omit --platform.`,
    );
  }
  const key = `${platform}:${opts.stateDir}:${opts.broker !== false}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let backend: SandboxBackend;
  switch (platform) {
    case 'linux':
      backend = (await import('./linux')).createLinuxBackend(opts);
      break;
    case 'win32':
      backend = (await import('./windows')).createWindowsBackend(opts);
      break;
    default:
      return assertNever(platform);
  }
  cache.set(key, backend);
  return backend;
}

/**
 * The facts a Windows mode would give, for previews on any machine (`agent-sandbox plan --elevated`): this
 * machine's runtime folders on Windows, a typical VS Code install elsewhere. No group SID: the plan names it.
 */
export async function previewFacts(windowsMode: 'elevated' | 'unelevated'): Promise<PlanFacts> {
  if (windowsMode === 'unelevated') return { windowsMode };
  const runtimeDirs =
    process.platform === 'win32'
      ? (await import('./windows/setup/runtime-dirs')).machineRuntimeDirs()
      : ['C:\\Users\\dev\\AppData\\Local\\Programs\\Microsoft VS Code'];
  return { windowsMode, runtimeDirs };
}

export async function disposeBackends(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  await Promise.all(all.map((b) => b.dispose()));
}
