/**
 * Access tokens: open the process token, query user/logon/integrity, and build the sandbox's restricted token
 * (CreateRestrictedToken with restricting SIDs, kept privileges, and a default DACL that never names Everyone).
 * Every token is a `Handle`. Must never return a token whose restriction step failed.
 */
import { checkBool, lastError, Win32Error, WinError } from './errors';
import { Handle, closeAll } from './handle';
import { lazyFn, type Pointer } from './lib';
import { Sid, sidToString } from './sid';
import { mergeEntries } from './acl';
import { declareStructs, encodeStruct, structSize } from './structs';
import { isWine } from './wine';

const GetCurrentProcess = lazyFn('kernel32.dll', 'void *GetCurrentProcess()');
const OpenProcessToken = lazyFn(
  'advapi32.dll',
  'bool OpenProcessToken(void *process, uint32 access, _Out_ void **token)',
);
const GetTokenInformation = lazyFn(
  'advapi32.dll',
  'bool GetTokenInformation(void *token, int cls, void *info, uint32 len, _Out_ uint32 *retLen)',
);
const SetTokenInformation = lazyFn(
  'advapi32.dll',
  'bool SetTokenInformation(void *token, int cls, void *info, uint32 len)',
);
const CreateRestrictedToken = lazyFn(
  'advapi32.dll',
  'bool CreateRestrictedToken(void *token, uint32 flags, ' +
    'uint32 nDisable, void *disable, uint32 nDelete, void *deletePrivs, uint32 nRestrict, void *restrict, _Out_ void **out)',
  declareStructs,
);
const LookupPrivilegeValueW = lazyFn(
  'advapi32.dll',
  'bool LookupPrivilegeValueW(str16 system, str16 name, _Out_ uint32 *luid)',
);
const AdjustTokenPrivileges = lazyFn(
  'advapi32.dll',
  'bool AdjustTokenPrivileges(void *token, bool disableAll, void *state, uint32 len, void *prev, void *retLen)',
);

export const TokenAccess = {
  ASSIGN_PRIMARY: 0x1,
  DUPLICATE: 0x2,
  QUERY: 0x8,
  ADJUST_PRIVILEGES: 0x20,
  ADJUST_GROUPS: 0x40,
  ADJUST_DEFAULT: 0x80,
  ADJUST_SESSIONID: 0x100,
} as const;
/** What the sandbox needs on its own token to derive and launch with a restricted copy. */
export const TOKEN_SANDBOX_ACCESS = Object.values(TokenAccess).reduce((a, b) => a | b, 0);

export const RestrictedTokenFlags = {
  DISABLE_MAX_PRIVILEGE: 0x1,
  SANDBOX_INERT: 0x2,
  LUA_TOKEN: 0x4,
  WRITE_RESTRICTED: 0x8,
} as const;

const TokenClass = {
  User: 1,
  Groups: 2,
  Privileges: 3,
  DefaultDacl: 6,
  RestrictedSids: 11,
  ElevationType: 18,
  IntegrityLevel: 25,
  LogonSid: 28,
} as const;

/** TOKEN_ELEVATION_TYPE: Default (no split token: UAC off, or not an administrator), Full (elevated), Limited. */
export const ElevationType = { DEFAULT: 1, FULL: 2, LIMITED: 3 } as const;

/** TokenElevationType of a token. */
export function tokenElevationType(token: Handle): number {
  return tokenInformation(token, TokenClass.ElevationType).readUInt32LE(0);
}
const SE_GROUP_LOGON_ID = 0xc0000000;
const SE_PRIVILEGE_ENABLED = 0x2;
const ERROR_NOT_ALL_ASSIGNED = 1300;

/** OpenProcessToken on the current process. */
export function openProcessToken(access = TOKEN_SANDBOX_ACCESS): Handle {
  const out: Pointer[] = [null];
  checkBool('OpenProcessToken', OpenProcessToken(GetCurrentProcess(), access, out));
  return new Handle(out[0] as bigint, 'token');
}

/** GetTokenInformation with the size probe. The buffer owns the memory that SID pointers in it refer to. */
export function tokenInformation(token: Handle, cls: number): Buffer {
  const len = [0];
  if (!GetTokenInformation(token.value, cls, null, 0, len)) {
    const code = lastError();
    if (code !== WinError.INSUFFICIENT_BUFFER) throw new Win32Error('GetTokenInformation', code, `class ${cls}`);
  }
  const buf = Buffer.alloc(Math.max(len[0], 8));
  checkBool('GetTokenInformation', GetTokenInformation(token.value, cls, buf, buf.length, len), `class ${cls}`);
  return buf;
}

function sidAt(buf: Buffer, offset: number): string {
  return sidToString(buf.readBigUInt64LE(offset));
}

export function tokenUserSid(token: Handle): string {
  return sidAt(tokenInformation(token, TokenClass.User), 0);
}

export interface TokenGroup {
  sid: string;
  attributes: number;
}

export function tokenGroups(token: Handle, cls: number = TokenClass.Groups): TokenGroup[] {
  const buf = tokenInformation(token, cls);
  const count = buf.readUInt32LE(0);
  const stride = structSize('SID_AND_ATTRIBUTES');
  return Array.from({ length: count }, (_, i) => ({
    sid: sidAt(buf, 8 + i * stride),
    attributes: buf.readUInt32LE(8 + i * stride + 8),
  }));
}

/** The logon SID (S-1-5-5-x-y): TokenLogonSid, or the group flagged SE_GROUP_LOGON_ID on older systems. */
export function tokenLogonSid(token: Handle): string {
  try {
    const [first] = tokenGroups(token, TokenClass.LogonSid);
    if (first) return first.sid;
  } catch (e) {
    if (!(e instanceof Win32Error)) throw e;
  }
  const logon = tokenGroups(token).find((g) => (g.attributes & SE_GROUP_LOGON_ID) === SE_GROUP_LOGON_ID);
  if (!logon) throw new Win32Error('GetTokenInformation', WinError.NONE_MAPPED, 'the token has no logon SID');
  return logon.sid;
}

/** Restricting SIDs (TokenRestrictedSids). Wine does not implement this query. */
export function tokenRestrictingSids(token: Handle): string[] {
  return tokenGroups(token, TokenClass.RestrictedSids).map((g) => g.sid);
}

/** The mandatory integrity level's RID (0x2000 medium, 0x3000 high). */
export function tokenIntegrityRid(token: Handle): number {
  const sid = sidAt(tokenInformation(token, TokenClass.IntegrityLevel), 0);
  return Number(sid.slice(sid.lastIndexOf('-') + 1));
}

export interface RestrictedTokenSpec {
  /** RestrictedTokenFlags bits. */
  flags: number;
  /** String SIDs added as restricting SIDs. */
  restrictingSids: string[];
  /** Privileges re-enabled after DISABLE_MAX_PRIVILEGE (e.g. SeChangeNotifyPrivilege). */
  keepPrivileges: string[];
  /** The default DACL for objects the child creates. Never include Everyone. */
  defaultDacl: { sid: string; mask: number }[];
}

/** CreateRestrictedToken from `base`. */
export function createRestrictedToken(base: Handle, flags: number, restrictingSids: string[]): Handle {
  const sids = restrictingSids.map((s) => Sid.parse(s));
  try {
    const stride = structSize('SID_AND_ATTRIBUTES');
    const arr = Buffer.alloc(stride * Math.max(1, sids.length));
    sids.forEach((s, i) => encodeStruct('SID_AND_ATTRIBUTES', { Sid: s.pointer, Attributes: 0 }).copy(arr, i * stride));
    const out: Pointer[] = [null];
    checkBool(
      'CreateRestrictedToken',
      CreateRestrictedToken(base.value, flags, 0, null, 0, null, sids.length, sids.length ? arr : null, out),
    );
    return new Handle(out[0] as bigint, 'restricted token');
  } finally {
    closeAll(...sids);
  }
}

/** Enables privileges by name; throws if any is not held (ERROR_NOT_ALL_ASSIGNED). */
export function enablePrivileges(token: Handle, names: string[]): void {
  for (const name of names) {
    const luid = [0, 0];
    checkBool('LookupPrivilegeValueW', LookupPrivilegeValueW(null, name, luid), name);
    const tp = encodeStruct('TOKEN_PRIVILEGES_1', {
      PrivilegeCount: 1,
      Privileges: [{ LowPart: luid[0], HighPart: luid[1], Attributes: SE_PRIVILEGE_ENABLED }],
    });
    checkBool('AdjustTokenPrivileges', AdjustTokenPrivileges(token.value, false, tp, 0, null, null), name);
    const code = lastError();
    if (code === ERROR_NOT_ALL_ASSIGNED) throw new Win32Error('AdjustTokenPrivileges', code, name);
  }
}

/** SetTokenInformation(TokenDefaultDacl) with allow entries for the given SIDs. */
export function setDefaultDacl(token: Handle, entries: { sid: string; mask: number }[]): void {
  const acl = mergeEntries(
    null,
    entries.map((e) => ({ sid: e.sid, mode: 'grant' as const, mask: e.mask, inheritance: 0 })),
  );
  try {
    const info = Buffer.alloc(8);
    info.writeBigUInt64LE(acl.value);
    checkBool(
      'SetTokenInformation',
      SetTokenInformation(token.value, TokenClass.DefaultDacl, info, info.length),
      'TokenDefaultDacl',
    );
  } finally {
    acl.close();
  }
}

/** Reads the restricting SIDs back; a token missing any is refused. Wine cannot answer the query (stub). */
function verifyRestrictingSids(token: Handle, expected: string[]): void {
  if (isWine()) return;
  const got = new Set(tokenRestrictingSids(token).map((s) => s.toUpperCase()));
  const missing = expected.filter((s) => !got.has(s.toUpperCase()));
  if (missing.length) {
    throw new Win32Error(
      'GetTokenInformation',
      WinError.INVALID_SID,
      `restricting SIDs missing from the token: ${missing.join(', ')}`,
    );
  }
}

/** The sandbox token: a restricted copy of this process's token, configured per `spec`. */
export function buildRestrictedToken(spec: RestrictedTokenSpec): Handle {
  const own = openProcessToken();
  let restricted: Handle | undefined;
  try {
    restricted = createRestrictedToken(own, spec.flags, spec.restrictingSids);
    verifyRestrictingSids(restricted, spec.restrictingSids);
    enablePrivileges(restricted, spec.keepPrivileges);
    setDefaultDacl(restricted, spec.defaultDacl);
    const done = restricted;
    restricted = undefined;
    return done;
  } finally {
    closeAll(restricted, own);
  }
}
