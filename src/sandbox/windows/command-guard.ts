/**
 * The guard (./guard) for one command of either Windows backend, on the real file system: the protected paths'
 * denies written again through the ledger (./prepare) when the host replaces them, and wired to the command's
 * Lifetime so a deny that cannot be written again stops it. Its first check runs before the command starts; a deny
 * it cannot write again then means nothing is run. Must never leave a guard watching after its command ended.
 */
import * as os from 'node:os';
import { SandboxError, SandboxErrorCode } from '../../errors';
import { isWine } from '../../../native-bindings/win32/wine';
import type { ExitInfo } from '../types';
import type { Lifetime } from '../lifetime';
import { fileSecurityStore } from './file-store';
import { AclGuard, fileIdentity } from './guard';
import type { ResolvedAclOp } from './ledger';
import { reapplyProtections } from './prepare';

export async function startCommandGuard(stateDir: string, ops: ResolvedAclOp[]): Promise<AclGuard> {
  const store = fileSecurityStore(stateDir);
  const home = os.homedir();
  const guard = new AclGuard(
    ops,
    { ...store, identity: fileIdentity },
    (o) => reapplyProtections(o, store, { stateDir, home }),
    { tolerateUnstoredAcls: isWine() },
  );
  await guard.check();
  if (guard.failed) {
    guard.close();
    throw new SandboxError(
      SandboxErrorCode.AclGrantFailed,
      `A protected path changed and could not be protected again: ${guard.failed}. Nothing was run.`,
      'Check that the path is on an NTFS volume and that you can change its permissions, then run the command again.',
    );
  }
  return guard;
}

/**
 * Ties a started command to its guard: a failed re-apply stops it (exit 125 with the reason). Returns what its
 * ExitInfo goes through once it ended: the guard is closed and what it did is added (`guarded`).
 */
export function guardCommand(guard: AclGuard | undefined, lifetime: Lifetime): (info: ExitInfo) => ExitInfo {
  if (!guard) return (info) => info;
  guard.onFailure = (reason) => lifetime.stop(reason);
  if (guard.failed) lifetime.stop(guard.failed);
  return (info) => {
    guard.close();
    return guard.notes.length ? { ...info, guarded: [...guard.notes] } : info;
  };
}
