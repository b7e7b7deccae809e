/**
 * Discretionary ACLs: read a file's security descriptor, merge entries with SetEntriesInAclW, write it back, read
 * explicit entries back, revoke a SID's entries, and convert to and from SDDL (for pipes and the ledger).
 * Every descriptor and ACL is owned (LocalMemory). Must never change an owner or a SACL: only DACLs are written.
 */
import { checkBool, checkStatus } from './errors';
import { LocalMemory, closeAll } from './handle';
import { koffi, lazyAsyncFn, lazyFn, type Pointer } from './lib';
import { Sid, sidToString } from './sid';
import { declareStructs, decodeStruct, encodeStruct, structSize } from './structs';

const SetEntriesInAclW = lazyFn(
  'advapi32.dll',
  'uint32 SetEntriesInAclW(uint32 count, void *entries, void *oldAcl, _Out_ void **newAcl)',
  declareStructs,
);
const GetExplicitEntriesFromAclW = lazyFn(
  'advapi32.dll',
  'uint32 GetExplicitEntriesFromAclW(void *acl, _Out_ uint32 *count, _Out_ void **entries)',
);
const GetNamedSecurityInfoW = lazyFn(
  'advapi32.dll',
  'uint32 GetNamedSecurityInfoW(str16 name, int type, uint32 info, ' +
    '_Out_ void **owner, _Out_ void **group, _Out_ void **dacl, _Out_ void **sacl, _Out_ void **sd)',
);
const SetNamedSecurityInfoW = lazyFn(
  'advapi32.dll',
  'uint32 SetNamedSecurityInfoW(str16 name, int type, uint32 info, ' +
    'void *owner, void *group, void *dacl, void *sacl)',
);
const SetNamedSecurityInfoWAsync = lazyAsyncFn(
  'advapi32.dll',
  'uint32 SetNamedSecurityInfoW(str16 name, int type, uint32 info, ' +
    'void *owner, void *group, void *dacl, void *sacl)',
);
const ConvertSecurityDescriptorToStringSecurityDescriptorW = lazyFn(
  'advapi32.dll',
  'bool ConvertSecurityDescriptorToStringSecurityDescriptorW(void *sd, uint32 rev, uint32 info, _Out_ void **s, _Out_ uint32 *len)',
);
const ConvertStringSecurityDescriptorToSecurityDescriptorW = lazyFn(
  'advapi32.dll',
  'bool ConvertStringSecurityDescriptorToSecurityDescriptorW(str16 s, uint32 rev, _Out_ void **sd, _Out_ uint32 *len)',
);
const GetSecurityDescriptorDacl = lazyFn(
  'advapi32.dll',
  'bool GetSecurityDescriptorDacl(void *sd, _Out_ int *present, _Out_ void **dacl, _Out_ int *defaulted)',
);
const GetSecurityInfo = lazyFn(
  'advapi32.dll',
  'uint32 GetSecurityInfo(void *handle, int type, uint32 info, ' +
    '_Out_ void **owner, _Out_ void **group, _Out_ void **dacl, _Out_ void **sacl, _Out_ void **sd)',
);
const GetSecurityDescriptorControl = lazyFn(
  'advapi32.dll',
  'bool GetSecurityDescriptorControl(void *sd, _Out_ uint16 *control, _Out_ uint32 *revision)',
);
const InitializeSecurityDescriptor = lazyFn('advapi32.dll', 'bool InitializeSecurityDescriptor(void *sd, uint32 rev)');
const SetSecurityDescriptorDacl = lazyFn(
  'advapi32.dll',
  'bool SetSecurityDescriptorDacl(void *sd, int present, void *dacl, int defaulted)',
);
const SetSecurityDescriptorControl = lazyFn(
  'advapi32.dll',
  'bool SetSecurityDescriptorControl(void *sd, uint16 mask, uint16 bits)',
);
const SetFileSecurityW = lazyFn('advapi32.dll', 'bool SetFileSecurityW(str16 name, uint32 info, void *sd)');
const LocalFree = lazyFn('kernel32.dll', 'void *LocalFree(void *mem)');

const SE_FILE_OBJECT = 1;
const SE_KERNEL_OBJECT = 6;
const SDDL_REVISION_1 = 1;
const TRUSTEE_IS_SID = 0;
const TRUSTEE_IS_UNKNOWN = 0;
export const SecurityInfo = {
  OWNER: 0x1,
  GROUP: 0x2,
  DACL: 0x4,
} as const;

/** ACCESS_MODE. `grant` merges with the trustee's existing allow ACE; `revoke` removes all its explicit ACEs. */
export type AceMode = 'grant' | 'set' | 'deny' | 'revoke';
const MODE_VALUE: Record<AceMode, number> = { grant: 1, set: 2, deny: 3, revoke: 4 };

/** One explicit ACE, as written and as read back. */
export interface AceEntry {
  sid: string;
  mode: AceMode;
  mask: number;
  /** OBJECT_INHERIT_ACE (1) | CONTAINER_INHERIT_ACE (2) | NO_PROPAGATE (4) | INHERIT_ONLY (8). */
  inheritance: number;
}

/** A security descriptor read from a file, and the DACL inside it (valid until `close()`). */
export class FileSecurity {
  constructor(
    private readonly sd: LocalMemory,
    readonly dacl: bigint | null,
  ) {}
  /** The DACL as SDDL (`D:...`), for the ledger and for humans. */
  toSddl(): string {
    return descriptorToSddl(this.sd.value, SecurityInfo.DACL);
  }
  explicitEntries(): AceEntry[] {
    return this.dacl === null ? [] : explicitEntries(this.dacl);
  }
  close(): void {
    this.sd.close();
  }
}

/** GetNamedSecurityInfoW on a file or folder: the descriptor (owned) and the owner and DACL pointers inside it. */
function namedFileSecurity(path: string, info: number): { sd: LocalMemory; owner: bigint | null; dacl: bigint | null } {
  const owner: Pointer[] = [null],
    group: Pointer[] = [null],
    dacl: Pointer[] = [null],
    sacl: Pointer[] = [null];
  const sd: Pointer[] = [null];
  checkStatus(
    'GetNamedSecurityInfoW',
    GetNamedSecurityInfoW(path, SE_FILE_OBJECT, info, owner, group, dacl, sacl, sd),
    path,
  );
  return {
    sd: new LocalMemory(sd[0] as bigint, 'security descriptor'),
    owner: (owner[0] as bigint) || null,
    dacl: (dacl[0] as bigint) || null,
  };
}

/** GetNamedSecurityInfoW(DACL) on a file or folder. */
export function readFileSecurity(path: string): FileSecurity {
  const { sd, dacl } = namedFileSecurity(path, SecurityInfo.DACL);
  return new FileSecurity(sd, dacl);
}

/** SetEntriesInAclW: a new ACL (owned) = `oldAcl` merged with `entries`. */
export function mergeEntries(oldAcl: bigint | null, entries: AceEntry[]): LocalMemory {
  const sids = entries.map((e) => Sid.parse(e.sid));
  try {
    const stride = structSize('EXPLICIT_ACCESS_W');
    const buf = Buffer.alloc(stride * Math.max(1, entries.length));
    entries.forEach((e, i) =>
      encodeStruct('EXPLICIT_ACCESS_W', {
        grfAccessPermissions: e.mask >>> 0,
        grfAccessMode: MODE_VALUE[e.mode],
        grfInheritance: e.inheritance,
        Trustee: {
          pMultipleTrustee: null,
          MultipleTrusteeOperation: 0,
          TrusteeForm: TRUSTEE_IS_SID,
          TrusteeType: TRUSTEE_IS_UNKNOWN,
          ptstrName: sids[i].pointer,
        },
      }).copy(buf, i * stride),
    );
    const out: Pointer[] = [null];
    checkStatus('SetEntriesInAclW', SetEntriesInAclW(entries.length, buf, oldAcl, out));
    return new LocalMemory(out[0] as bigint, 'ACL');
  } finally {
    closeAll(...sids);
  }
}

/** GetExplicitEntriesFromAclW, decoded. Allow ACEs read back as `grant`, deny ACEs as `deny`. */
export function explicitEntries(acl: bigint): AceEntry[] {
  const count = [0];
  const list: Pointer[] = [null];
  checkStatus('GetExplicitEntriesFromAclW', GetExplicitEntriesFromAclW(acl, count, list));
  try {
    const out: AceEntry[] = [];
    for (let i = 0; i < count[0]; i++) {
      const e = decodeStruct<{
        grfAccessPermissions: number;
        grfAccessMode: number;
        grfInheritance: number;
        Trustee: { TrusteeForm: number; ptstrName: bigint };
      }>(list[0] as bigint, 'EXPLICIT_ACCESS_W', i * structSize('EXPLICIT_ACCESS_W'));
      if (e.Trustee.TrusteeForm !== TRUSTEE_IS_SID) continue;
      const mode: AceMode = e.grfAccessMode === MODE_VALUE.deny ? 'deny' : 'grant';
      out.push({
        sid: sidToString(e.Trustee.ptstrName),
        mode,
        mask: e.grfAccessPermissions >>> 0,
        inheritance: e.grfInheritance,
      });
    }
    return out;
  } finally {
    if (list[0]) LocalFree(list[0]);
  }
}

/**
 * SetNamedSecurityInfoW(DACL). Neither PROTECTED nor UNPROTECTED is passed, so whether the folder inherits from
 * its parent stays as the user left it. Windows propagates inheritable ACEs into existing descendants (slow on big
 * trees: done once per root).
 */
export function writeFileDacl(path: string, dacl: bigint): void {
  checkStatus(
    'SetNamedSecurityInfoW',
    SetNamedSecurityInfoW(path, SE_FILE_OBJECT, SecurityInfo.DACL, null, null, dacl, null),
    path,
  );
}

/** PROTECTED_DACL_SECURITY_INFORMATION: the object stops inheriting from its parent. */
const PROTECTED_DACL = 0x80000000;

/**
 * Replaces a folder's DACL with the one in `sddl`, protected from its parent's inheritable ACEs
 * (SetNamedSecurityInfoW). For a folder setup creates and owns (the runtime root): it never touches the owner.
 */
export function setProtectedFileDacl(path: string, sddl: string): void {
  setFileDaclSddl(path, sddl, PROTECTED_DACL);
}

/** SetNamedSecurityInfoW(DACL | `protection`) with the DACL of `sddl`. */
function setFileDaclSddl(path: string, sddl: string, protection: number): void {
  const sd = SecurityDescriptor.fromSddl(sddl);
  try {
    checkStatus(
      'SetNamedSecurityInfoW',
      SetNamedSecurityInfoW(path, SE_FILE_OBJECT, SecurityInfo.DACL | protection, null, null, sd.dacl(), null),
      path,
    );
  } finally {
    sd.close();
  }
}

/** UNPROTECTED_DACL_SECURITY_INFORMATION: the object inherits from its parent again. */
const UNPROTECTED_DACL = 0x20000000;

/** A file's or folder's DACL as SDDL, with its protection flag (`D:P…` when it does not inherit). */
export function fileDaclSddl(path: string): string {
  const sec = readFileSecurity(path);
  try {
    return sec.toSddl();
  } finally {
    sec.close();
  }
}

/**
 * Puts back a DACL read with `fileDaclSddl`: protected again if it was (`D:P`), otherwise inheriting from the
 * parent once more (Windows then recomputes the inherited ACEs). Never touches the owner.
 */
export function restoreFileDacl(path: string, sddl: string): void {
  setFileDaclSddl(path, sddl, /^D:[A-Z]*P/.test(sddl) ? PROTECTED_DACL : UNPROTECTED_DACL);
}

/** The owner of a file or folder, as a SID string (GetNamedSecurityInfoW(OWNER)). */
export function fileOwnerSid(path: string): string {
  const { sd, owner } = namedFileSecurity(path, SecurityInfo.OWNER);
  try {
    if (owner === null) throw new Error(`${path} has no owner in its security descriptor`);
    return sidToString(owner);
  } finally {
    sd.close();
  }
}

/** A file's DACL as SDDL, and a new ACL (owned) merging `entries` into it. */
function mergedFileDacl(path: string, entries: AceEntry[]): { before: string; acl: LocalMemory } {
  const sec = readFileSecurity(path);
  try {
    return { before: sec.toSddl(), acl: mergeEntries(sec.dacl, entries) };
  } finally {
    sec.close(); // the merged ACL is a copy
  }
}

/** Reads, merges and writes a file's DACL in one step; returns the DACL's SDDL before the change. */
export function applyFileEntries(path: string, entries: AceEntry[]): string {
  const { before, acl } = mergedFileDacl(path, entries);
  try {
    writeFileDacl(path, acl.value);
  } finally {
    acl.close();
  }
  return before;
}

/**
 * `applyFileEntries` with the write on koffi's worker thread: SetNamedSecurityInfoW propagates inheritable ACEs
 * through every existing descendant, which on a big workspace takes long enough to freeze VS Code's extension
 * host. The merged ACL stays alive until the call has returned.
 */
export async function applyFileEntriesAsync(path: string, entries: AceEntry[]): Promise<string> {
  const { before, acl } = mergedFileDacl(path, entries);
  try {
    const status = await SetNamedSecurityInfoWAsync(
      path,
      SE_FILE_OBJECT,
      SecurityInfo.DACL,
      null,
      null,
      acl.value,
      null,
    );
    checkStatus('SetNamedSecurityInfoW', status as number, path);
  } finally {
    acl.close();
  }
  return before;
}

/** SECURITY_DESCRIPTOR_REVISION, and the absolute SECURITY_DESCRIPTOR's size on x64 (40; 20 on x86), rounded up. */
const SECURITY_DESCRIPTOR_REVISION = 1;
const ABSOLUTE_SD_BYTES = 64;
/** The DACL control bits SetSecurityDescriptorControl may copy: SE_DACL_AUTO_INHERITED | SE_DACL_PROTECTED. */
const DACL_CONTROL_BITS = 0x0400 | 0x1000;

/**
 * Reads, merges and writes a file's DACL with SetFileSecurityW, which writes this one object's descriptor and
 * propagates nothing to what is inside it (SetNamedSecurityInfoW would recompute the inherited ACEs of the whole
 * subtree: on a profile root, every file in the profile). The folder's inherited ACEs and its auto-inherited and
 * protected flags are kept as they were. For non-inheriting ACEs only: an inheritable one written this way would
 * not reach existing children. Returns the DACL's SDDL before the change.
 */
export function applyFileEntriesInPlace(path: string, entries: AceEntry[]): string {
  const { sd, dacl } = namedFileSecurity(path, SecurityInfo.DACL);
  try {
    const control = [0];
    checkBool('GetSecurityDescriptorControl', GetSecurityDescriptorControl(sd.value, control, [0]), path);
    const before = descriptorToSddl(sd.value, SecurityInfo.DACL);
    const acl = mergeEntries(dacl, entries);
    try {
      // An absolute descriptor pointing at the merged ACL, which stays alive until the write has returned.
      const abs = Buffer.alloc(ABSOLUTE_SD_BYTES);
      checkBool('InitializeSecurityDescriptor', InitializeSecurityDescriptor(abs, SECURITY_DESCRIPTOR_REVISION));
      checkBool('SetSecurityDescriptorDacl', SetSecurityDescriptorDacl(abs, 1, acl.value, 0));
      checkBool(
        'SetSecurityDescriptorControl',
        SetSecurityDescriptorControl(abs, DACL_CONTROL_BITS, control[0] & DACL_CONTROL_BITS),
      );
      checkBool('SetFileSecurityW', SetFileSecurityW(path, SecurityInfo.DACL, abs), path);
    } finally {
      acl.close();
    }
    return before;
  } finally {
    sd.close();
  }
}

/** Explicit entries of a file's DACL. */
export function readFileEntries(path: string): AceEntry[] {
  const sec = readFileSecurity(path);
  try {
    return sec.explicitEntries();
  } finally {
    sec.close();
  }
}

/** SE_OBJECT_TYPE values for `handleDaclSddl`: kernel objects (pipes, jobs) and window stations/desktops. */
export const HandleObjectType = { KERNEL: 6, WINDOW: 7 } as const;

/** The DACL of a kernel object (a pipe, a job) or a desktop as SDDL, read through its handle (GetSecurityInfo). */
export function handleDaclSddl(handle: bigint, type: number = SE_KERNEL_OBJECT): string {
  const owner: Pointer[] = [null],
    group: Pointer[] = [null],
    dacl: Pointer[] = [null],
    sacl: Pointer[] = [null];
  const sd: Pointer[] = [null];
  checkStatus('GetSecurityInfo', GetSecurityInfo(handle, type, SecurityInfo.DACL, owner, group, dacl, sacl, sd));
  const memory = new LocalMemory(sd[0] as bigint, 'security descriptor');
  try {
    return descriptorToSddl(memory.value, SecurityInfo.DACL);
  } finally {
    memory.close();
  }
}

/** ConvertSecurityDescriptorToStringSecurityDescriptorW. */
export function descriptorToSddl(sd: bigint, info: number): string {
  const s: Pointer[] = [null];
  checkBool(
    'ConvertSecurityDescriptorToStringSecurityDescriptorW',
    ConvertSecurityDescriptorToStringSecurityDescriptorW(sd, SDDL_REVISION_1, info, s, [0]),
  );
  try {
    return koffi().decode.wstring(s[0]);
  } finally {
    LocalFree(s[0]);
  }
}

/** A self-relative security descriptor built from SDDL (owned), e.g. for a pipe's SECURITY_ATTRIBUTES. */
export class SecurityDescriptor {
  private constructor(private readonly memory: LocalMemory) {}
  static fromSddl(sddl: string): SecurityDescriptor {
    const sd: Pointer[] = [null];
    checkBool(
      'ConvertStringSecurityDescriptorToSecurityDescriptorW',
      ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, sd, [0]),
      sddl,
    );
    return new SecurityDescriptor(new LocalMemory(sd[0] as bigint, 'security descriptor'));
  }
  get pointer(): bigint {
    return this.memory.value;
  }
  /** The DACL inside (null for a NULL DACL). */
  dacl(): bigint | null {
    const present = [0],
      defaulted = [0];
    const dacl: Pointer[] = [null];
    checkBool('GetSecurityDescriptorDacl', GetSecurityDescriptorDacl(this.pointer, present, dacl, defaulted));
    return present[0] ? dacl[0] || null : null;
  }
  toSddl(info = SecurityInfo.DACL): string {
    return descriptorToSddl(this.pointer, info);
  }
  /** SECURITY_ATTRIBUTES pointing at this descriptor; valid while this descriptor is open. */
  securityAttributes(inherit: boolean): Buffer {
    return encodeStruct('SECURITY_ATTRIBUTES', {
      nLength: structSize('SECURITY_ATTRIBUTES'),
      lpSecurityDescriptor: this.pointer,
      bInheritHandle: inherit ? 1 : 0,
    });
  }
  close(): void {
    this.memory.close();
  }
}
