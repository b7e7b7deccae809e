/**
 * Backend selection: an exhaustive switch over the platform that throws on anything unknown. Backends are loaded
 * lazily so importing this module never loads a native library.
 */
import type { Plan } from '../policy';
import { assertNever } from '../policy/paths';
import { SandboxError, SandboxErrorCode } from './errors';
import type { SandboxBackend } from './types';

export * from './types';
export * from './errors';

export interface BackendOptions {
  /** Where the backend may keep state (capability SIDs, ledger, brokers). */
  stateDir: string;
  /**
   * Reuse a long-lived sandboxed broker per distinct plan (fast; for the extension and benchmarks). When false,
   * every spawn builds a fresh sandbox (the CLI's one-shot `run`). Default true.
   */
  broker?: boolean;
  /** One-time preparation progress (e.g. Windows ACL grants per root), for a progress notification. */
  onProgress?: (p: { message: string; done: number; total: number }) => void;
  /**
   * Read when a one-time preparation starts; aborting the signal it returns cancels that preparation between
   * operations (error code `cancelled`; what was applied stays recorded and the next run resumes).
   */
  preparationSignal?: () => AbortSignal | undefined;
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

export async function disposeBackends(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  await Promise.all(all.map((b) => b.dispose()));
}
