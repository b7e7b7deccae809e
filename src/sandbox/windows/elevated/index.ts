/**
 * The runtime of elevated Windows mode: the backend that runs commands as the sandbox accounts, loaded only when
 * setup is done for this user. Importable anywhere: nothing native loads until a function runs.
 * Must never provision anything: it reads what setup left (the marker and the stored credentials) and nothing else.
 */
import type { SandboxBackend } from '../../types';
import type { BackendOptions } from '../../types';
import { SETUP_VERSION } from '../setup/constants';
import { requireWindows } from '../setup';

const loaded = new Map<string, { key: string; backend: SandboxBackend }>();

/**
 * The elevated backend when setup is done for this user (current marker and stored credentials for both
 * accounts), otherwise undefined, so the caller falls back to the unelevated backend and its warnings. One backend
 * (and so one runner per account) per state directory for the life of this process, replaced if setup changes.
 */
export async function loadElevatedBackend(opts: BackendOptions): Promise<SandboxBackend | undefined> {
  requireWindows('The elevated Windows sandbox');
  const [{ win32Machine }, { storedAccounts }, { createElevatedBackend }] = await Promise.all([
    import('../setup/machine-win32'),
    import('../setup/credentials'),
    import('./backend'),
  ]);
  const marker = await win32Machine({ stateDir: opts.stateDir, home: '' }).readMarker();
  if (!marker || marker.version < SETUP_VERSION) return undefined;
  const creds = storedAccounts(opts.stateDir);
  if (creds.offline?.sid !== marker.offlineSid || creds.online?.sid !== marker.onlineSid) return undefined;
  const key = JSON.stringify(marker);
  const hit = loaded.get(opts.stateDir);
  if (hit?.key === key) return hit.backend;
  await hit?.backend.dispose();
  const backend = createElevatedBackend(opts, marker);
  loaded.set(opts.stateDir, { key, backend });
  return backend;
}
