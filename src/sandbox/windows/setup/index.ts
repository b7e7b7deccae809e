/**
 * The one-time provisioning of elevated Windows mode, the public entry: setup (one UAC prompt), uninstall and
 * status. Importable anywhere: nothing native loads until a function runs, and on other platforms the functions
 * refuse (status reports "unsupported"). Must never be imported by the runtime backend (./elevated reads only
 * what setup left behind: the marker and the stored credentials).
 */
import { SandboxError, SandboxErrorCode } from '../../../errors';
import type { SetupOptions, SetupResult, UninstallResult } from './setup';
import type { WindowsSandboxStatus } from './status';

export type { SetupOptions, SetupResult, UninstallResult, WindowsSandboxStatus };

export function requireWindows(what: string): void {
  if (process.platform !== 'win32') {
    throw new SandboxError(
      SandboxErrorCode.UnsupportedPlatform,
      `${what} is only available on Windows.`,
      'On Linux the sandbox needs no setup: bubblewrap and Landlock are used directly.',
    );
  }
}

export async function setupWindowsSandbox(opts: SetupOptions): Promise<SetupResult> {
  requireWindows('The Windows sandbox setup');
  return (await import('./setup')).runSetup(opts);
}

/** What setup would do on this machine, one line per change, for a confirmation before the UAC prompt. */
export async function describeWindowsSetup(
  opts: Pick<SetupOptions, 'workspaceRoots' | 'extensionDir' | 'toolDirs'>,
): Promise<string[]> {
  requireWindows('The Windows sandbox setup');
  const { describePlan, planForThisMachine } = await import('./setup');
  return describePlan(planForThisMachine(opts));
}

export async function windowsSandboxStatus(opts: { stateDir: string }): Promise<WindowsSandboxStatus> {
  if (process.platform !== 'win32') {
    return {
      state: 'unsupported',
      summary: 'The elevated Windows sandbox exists only on Windows.',
      group: 'unknown',
      users: [],
      rules: [],
      firewallPolicy: 'unknown',
      firewall: { enforced: false, reasons: ['not Windows'] },
      notes: [],
    };
  }
  const [{ readStatus }, { win32Machine }] = await Promise.all([import('./status'), import('./machine-win32')]);
  return readStatus(win32Machine({ stateDir: opts.stateDir, home: '' }), opts.stateDir);
}
