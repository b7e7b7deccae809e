/**
 * Who is running the sandbox: this process's user and logon SIDs, and the persisted capability SID of each root.
 * Shared by the unelevated and elevated backends and the runner. A token that cannot be read is a SandboxError, never a default.
 */
import type { Win32Plan } from '../../policy/plan';
import { openProcessToken, tokenLogonSid, tokenUserSid } from '../../../native-bindings/win32/token';
import { SandboxError, SandboxErrorCode } from '../../errors';
import { capabilitySidsFor } from './capabilities';
import type { Identity } from './prepare';

/** This process's user and logon SIDs, read from its token. */
export function processSids(): { userSid: string; logonSid: string } {
  using own = openProcessToken();
  return { userSid: tokenUserSid(own), logonSid: tokenLogonSid(own) };
}

export function ownIdentity(plan: Win32Plan, stateDir: string): Identity {
  try {
    const roots = plan.workspaceRoots.length ? plan.workspaceRoots : [plan.tempDir];
    return { ...processSids(), capabilities: capabilitySidsFor(stateDir, roots) };
  } catch (e) {
    if (e instanceof SandboxError) throw e;
    throw new SandboxError(
      SandboxErrorCode.NativeLoadFailed,
      `Could not read this process's token: ${(e as Error).message}`,
      'Reinstall Agent Sandbox; its native component (koffi) may be missing for this platform.',
      { cause: e },
    );
  }
}
