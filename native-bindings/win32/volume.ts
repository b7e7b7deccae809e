/**
 * What volume a path is on, for deciding whether file ACLs can hold there (review §3.14): its root
 * (GetVolumePathNameW), drive type (GetDriveTypeW: DRIVE_REMOTE for mapped drives and shares) and file system with
 * its flags (GetVolumeInformationW: FILE_PERSISTENT_ACLS, which FAT and exFAT lack). Read-only calls. Must never
 * report a fact it could not read: a failed call throws a Win32Error.
 */
import { checkBool } from './errors';
import { fromWide, lazyFn } from './lib';

const GetVolumePathNameW = lazyFn(
  'kernel32.dll',
  'bool GetVolumePathNameW(str16 path, _Out_ uint8_t *root, uint32 chars)',
);
const GetDriveTypeW = lazyFn('kernel32.dll', 'uint32 GetDriveTypeW(str16 root)');
const GetVolumeInformationW = lazyFn(
  'kernel32.dll',
  'bool GetVolumeInformationW(str16 root, void *name, uint32 nameChars, _Out_ uint32 *serial, ' +
    '_Out_ uint32 *maxComponent, _Out_ uint32 *flags, _Out_ uint8_t *fsName, uint32 fsChars)',
);

export const DriveType = {
  UNKNOWN: 0,
  NO_ROOT_DIR: 1,
  REMOVABLE: 2,
  FIXED: 3,
  REMOTE: 4,
  CDROM: 5,
  RAMDISK: 6,
} as const;
export const FILE_PERSISTENT_ACLS = 0x8;

export interface VolumeInfo {
  /** The volume's root, with a trailing backslash (`C:\`, `\\server\share\`, or a mount folder). */
  root: string;
  /** GetDriveTypeW's answer (DriveType). */
  driveType: number;
  /** "NTFS", "ReFS", "FAT32", "exFAT", … */
  fileSystem: string;
  /** GetVolumeInformationW's file-system flags. */
  flags: number;
}

const MAX_PATH_CHARS = 32768;

/** The volume `p` is on (`p` must exist, or at least its volume root must). */
export function volumeInfo(p: string): VolumeInfo {
  const rootBuf = Buffer.alloc(MAX_PATH_CHARS * 2);
  checkBool('GetVolumePathNameW', GetVolumePathNameW(p, rootBuf, MAX_PATH_CHARS), p);
  const root = fromWide(rootBuf);
  const driveType = Number(GetDriveTypeW(root));
  const fsBuf = Buffer.alloc(261 * 2);
  const flags = [0];
  checkBool('GetVolumeInformationW', GetVolumeInformationW(root, null, 0, [0], [0], flags, fsBuf, 261), root);
  return { root, driveType, fileSystem: fromWide(fsBuf), flags: flags[0] >>> 0 };
}
