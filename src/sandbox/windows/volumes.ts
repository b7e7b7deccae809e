/**
 * Review §3.14, decided (pure, unit-tested): file ACLs decide nothing on a network share (the server judges a
 * write by the credentials of the connection, never by our restricting SIDs or the group's ACEs) nor on a volume
 * without persistent ACLs (FAT, exFAT). A writable folder or the sandbox's temp on one is refused, with the reason
 * and the fix, unless the plan accepts it (`requireEnforceableVolumes: false`), and then every result says the
 * writes there are NOT enforced. A volume that cannot be read is refused the same way: unknown is not enforced.
 */
import { SandboxError, SandboxErrorCode } from '../../errors';
import { DriveType, FILE_PERSISTENT_ACLS, type VolumeInfo } from '../../../native-bindings/win32/volume';

/** Why ACLs cannot hold for `p` on volume `v` (or the error reading it); undefined when they can. */
export function volumeProblem(p: string, v: VolumeInfo | Error): string | undefined {
  if (/^\\\\(?![?.]\\)/.test(p) || /^\\\\\?\\UNC\\/i.test(p))
    return `${p} is on a network share, whose server checks writes against the credentials of the connection, not the sandbox's permissions`;
  if (v instanceof Error)
    return `the volume of ${p} could not be read (${v.message}), so whether permissions hold there is unknown`;
  if (v.driveType === DriveType.REMOTE)
    return `${p} is on a network drive (${v.root}), whose server checks writes against the credentials of the connection, not the sandbox's permissions`;
  if (!(v.flags & FILE_PERSISTENT_ACLS))
    return `${p} is on a ${v.fileSystem || 'file system'} volume (${v.root}) without file permissions (FAT and exFAT have none)`;
  return undefined;
}

/**
 * Checks each path's volume (`read` throws when it cannot tell). Throws a SandboxError naming every problem unless
 * `accept`; then returns one warning saying writes there are not enforced.
 */
export function checkVolumes(paths: string[], read: (p: string) => VolumeInfo, accept: boolean): string[] {
  const problems: string[] = [];
  for (const p of paths) {
    let v: VolumeInfo | Error;
    try {
      v = read(p);
    } catch (e) {
      v = e instanceof Error ? e : new Error(String(e));
    }
    const problem = volumeProblem(p, v);
    if (problem) problems.push(problem);
  }
  if (!problems.length) return [];
  if (accept)
    return [
      `Writes are NOT enforced there: ${problems.join('; ')}. Allowed by agentSandbox.requireEnforceableVolumes = false.`,
    ];
  throw new SandboxError(
    SandboxErrorCode.VolumeUnenforceable,
    `Not run: the sandbox cannot restrict writes here: ${problems.join('; ')}.`,
    'Move the workspace (and its writable folders) to a local NTFS or ReFS drive, or for a network share open a ' +
      'local clone instead. To run anyway with those writes not restricted, set agentSandbox.requireEnforceableVolumes ' +
      'to false.',
  );
}
