/**
 * Elevated Windows mode, the public entry: one-time setup (one UAC prompt), uninstall, status, and the backend
 * that runs commands as the sandbox accounts. Importable anywhere: nothing native loads until a function runs, and
 * on other platforms the functions refuse (status reports "unsupported").
 */
import { SandboxError, SandboxErrorCode } from '../../errors';
import type { SandboxBackend } from '../../types';
import type { BackendOptions } from '../..';
import { SETUP_VERSION } from './constants';
import type { SetupOptions, SetupResult, UninstallResult } from './setup';
import type { WindowsSandboxStatus } from './status';
import type { WindowsUninstallResult } from '../uninstall';

export type { SetupOptions, SetupResult, UninstallResult, WindowsSandboxStatus, WindowsUninstallResult };

function requireWindows(what: string): void {
  if (process.platform !== 'win32') {
    throw new SandboxError(SandboxErrorCode.UnsupportedPlatform, `${what} is only available on Windows.`,
      'On Linux the sandbox needs no setup: bubblewrap and Landlock are used directly.');
  }
}

export async function setupWindowsSandbox(opts: SetupOptions): Promise<SetupResult> {
  requireWindows('The Windows sandbox setup');
  return (await import('./setup')).runSetup(opts);
}

/** What setup would do on this machine, one line per change, for a confirmation before the UAC prompt. */
export async function describeWindowsSetup(opts: Pick<SetupOptions, 'workspaceRoots' | 'extensionDir' | 'toolDirs'>): Promise<string[]> {
  requireWindows('The Windows sandbox setup');
  const { describePlan, planForThisMachine } = await import('./setup');
  return describePlan(planForThisMachine(opts));
}

/**
 * Removes the Windows sandbox: reverts the unelevated backend's permissions (no administrator needed), then, only
 * if anything of the elevated setup is there, the elevated part with one UAC prompt.
 */
export async function uninstallWindowsSandbox(opts: { stateDir: string; onProgress?: (m: string) => void }): Promise<WindowsUninstallResult> {
  requireWindows('Removing the Windows sandbox');
  const [{ uninstallDeps, uninstallWindows }, { fileSecurityStore }, { win32Machine }, { runUninstall }] = await Promise.all([
    import('../uninstall'), import('../file-store'), import('./machine-win32'), import('./setup')]);
  const machine = win32Machine({ stateDir: opts.stateDir, home: '' });
  return uninstallWindows(uninstallDeps(opts.stateDir, fileSecurityStore, machine, () => runUninstall(opts)), opts.onProgress);
}

export async function windowsSandboxStatus(opts: { stateDir: string }): Promise<WindowsSandboxStatus> {
  if (process.platform !== 'win32') {
    return { state: 'unsupported', summary: 'The elevated Windows sandbox exists only on Windows.', group: 'unknown', users: [],
      rules: [], firewallPolicy: 'unknown', notes: [] };
  }
  const [{ readStatus }, { win32Machine }] = await Promise.all([import('./status'), import('./machine-win32')]);
  return readStatus(win32Machine({ stateDir: opts.stateDir, home: '' }), opts.stateDir);
}

const loaded = new Map<string, { key: string; backend: SandboxBackend }>();

/**
 * The elevated backend when setup is done for this user (current marker and stored credentials for both
 * accounts), otherwise undefined, so the caller falls back to the unelevated backend and its warnings. One backend
 * (and so one runner per account) per state directory for the life of this process, replaced if setup changes.
 */
export async function loadElevatedBackend(opts: BackendOptions): Promise<SandboxBackend | undefined> {
  requireWindows('The elevated Windows sandbox');
  const [{ win32Machine }, { storedAccounts }, { createElevatedBackend }] =
    await Promise.all([import('./machine-win32'), import('./credentials'), import('./backend')]);
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
