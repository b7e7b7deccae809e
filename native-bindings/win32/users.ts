/**
 * Local accounts and local groups through netapi32 (NetUser*, NetLocalGroup*), plus SID lookups that can never
 * resolve the wrong principal: accounts are read by SID (USER_INFO_23) and names are always qualified with this
 * computer's name (the `.\name` form), because a bare name resolves to the computer account when the computer is
 * called the same. Must never create an account with more than USER_PRIV_USER.
 */
import { checkBool, checkStatus, lastError, Win32Error } from './errors';
import { koffi, lazyFn, once, fromWide, type Pointer } from './lib';
import { Sid, sidToString } from './sid';

export const NetError = {
  NERR_GroupNotFound: 2220,
  NERR_UserNotFound: 2221,
  NERR_UserExists: 2224,
  ERROR_MEMBER_IN_ALIAS: 1378,
  ERROR_ALIAS_EXISTS: 1379,
  ERROR_NO_SUCH_ALIAS: 1376,
  ERROR_NONE_MAPPED: 1332,
} as const;

const MAX_PREFERRED_LENGTH = 0xffffffff;

const declare = once(() => {
  const k = koffi();
  return {
    USER_INFO_1: k.struct('USER_INFO_1', {
      name: 'str16',
      password: 'str16',
      password_age: 'uint32',
      priv: 'uint32',
      home_dir: 'str16',
      comment: 'str16',
      flags: 'uint32',
      script_path: 'str16',
    }),
    USER_INFO_23: k.struct('USER_INFO_23', {
      name: 'void *',
      full_name: 'void *',
      comment: 'void *',
      flags: 'uint32',
      user_sid: 'void *',
    }),
    USER_INFO_1003: k.struct('USER_INFO_1003', { password: 'str16' }),
    USER_INFO_1008: k.struct('USER_INFO_1008', { flags: 'uint32' }),
    LOCALGROUP_INFO_1: k.struct('LOCALGROUP_INFO_1', { name: 'str16', comment: 'str16' }),
  };
});

/** x64 sizes from lmaccess.h, checked by the Wine tier. */
export const USERS_X64_SIZES = { USER_INFO_1: 56, USER_INFO_23: 40, LOCALGROUP_INFO_1: 16 } as const;
export function usersStructSize(name: keyof typeof USERS_X64_SIZES): number {
  return koffi().sizeof(declare()[name]);
}

const NetUserAdd = lazyFn(
  'netapi32.dll',
  'uint32 NetUserAdd(str16 server, uint32 level, USER_INFO_1 *buf, _Out_ uint32 *parmErr)',
  declare,
);
const NetUserGetInfo = lazyFn(
  'netapi32.dll',
  'uint32 NetUserGetInfo(str16 server, str16 user, uint32 level, _Out_ void **buf)',
);
const NetUserSetInfoPassword = lazyFn(
  'netapi32.dll',
  'uint32 NetUserSetInfo(str16 server, str16 user, uint32 level, USER_INFO_1003 *buf, _Out_ uint32 *parmErr)',
  declare,
);
const NetUserSetInfoFlags = lazyFn(
  'netapi32.dll',
  'uint32 NetUserSetInfo(str16 server, str16 user, uint32 level, USER_INFO_1008 *buf, _Out_ uint32 *parmErr)',
  declare,
);
const NetUserDel = lazyFn('netapi32.dll', 'uint32 NetUserDel(str16 server, str16 user)');
const NetLocalGroupAdd = lazyFn(
  'netapi32.dll',
  'uint32 NetLocalGroupAdd(str16 server, uint32 level, LOCALGROUP_INFO_1 *buf, _Out_ uint32 *parmErr)',
  declare,
);
const NetLocalGroupDel = lazyFn('netapi32.dll', 'uint32 NetLocalGroupDel(str16 server, str16 group)');
const NetLocalGroupGetMembers = lazyFn(
  'netapi32.dll',
  'uint32 NetLocalGroupGetMembers(str16 server, str16 group, uint32 level, _Out_ void **buf, uint32 max, _Out_ uint32 *read, _Out_ uint32 *total, void *resume)',
);
const NetLocalGroupAddMembers = lazyFn(
  'netapi32.dll',
  'uint32 NetLocalGroupAddMembers(str16 server, str16 group, uint32 level, void **members, uint32 count)',
);
const NetApiBufferFree = lazyFn('netapi32.dll', 'uint32 NetApiBufferFree(void *buf)');
const LookupAccountNameW = lazyFn(
  'advapi32.dll',
  'bool LookupAccountNameW(str16 system, str16 name, _Out_ uint8_t *sid, _Inout_ uint32 *cbSid, _Out_ uint16_t *domain, _Inout_ uint32 *cchDomain, _Out_ int *use)',
);
const LookupAccountSidW = lazyFn(
  'advapi32.dll',
  'bool LookupAccountSidW(str16 system, void *sid, _Out_ uint16_t *name, _Inout_ uint32 *cchName, _Out_ uint16_t *domain, _Inout_ uint32 *cchDomain, _Out_ int *use)',
);
const GetComputerNameW = lazyFn('kernel32.dll', 'bool GetComputerNameW(_Out_ uint16_t *buf, _Inout_ uint32 *size)');
const DeleteProfileW = lazyFn('userenv.dll', 'bool DeleteProfileW(str16 sid, str16 path, str16 computer)');

export interface NewUser {
  name: string;
  password: string;
  priv: number;
  flags: number;
  comment: string;
}

/** NetUserAdd at level 1. Throws Win32Error('NetUserAdd', 2224) when the account exists. */
export function addUser(u: NewUser): void {
  if (u.priv !== 1) throw new Error('sandbox accounts are created with USER_PRIV_USER only');
  const parm = [0];
  checkStatus(
    'NetUserAdd',
    NetUserAdd(
      null,
      1,
      {
        name: u.name,
        password: u.password,
        password_age: 0,
        priv: u.priv,
        home_dir: null,
        comment: u.comment,
        flags: u.flags,
        script_path: null,
      },
      parm,
    ),
    `${u.name}, parameter ${parm[0]}`,
  );
}

export interface AccountInfo {
  sid: string;
  priv: number;
  flags: number;
}

/** Reads a local account (this computer only), or undefined when there is none. */
export function getUser(name: string): AccountInfo | undefined {
  const one = netGetInfo(name, 1);
  if (!one) return undefined;
  const info1 = withNetBuffer(one, (p) => koffi().decode(p, declare().USER_INFO_1) as { priv: number; flags: number });
  const i23 = netGetInfo(name, 23);
  if (!i23) return undefined;
  const sid = withNetBuffer(i23, (p) =>
    sidToString((koffi().decode(p, declare().USER_INFO_23) as { user_sid: bigint }).user_sid),
  );
  return { sid, priv: info1.priv, flags: info1.flags >>> 0 };
}

function netGetInfo(name: string, level: number): bigint | undefined {
  const buf: Pointer[] = [null];
  const status = NetUserGetInfo(null, name, level, buf) as number;
  if (status === NetError.NERR_UserNotFound) return undefined;
  checkStatus('NetUserGetInfo', status, name);
  return buf[0] as bigint;
}

function withNetBuffer<T>(p: bigint, use: (p: bigint) => T): T {
  try {
    return use(p);
  } finally {
    NetApiBufferFree(p);
  }
}

export function setUserPassword(name: string, password: string): void {
  const parm = [0];
  checkStatus('NetUserSetInfo', NetUserSetInfoPassword(null, name, 1003, { password }, parm), `${name} password`);
}

export function setUserFlags(name: string, flags: number): void {
  const parm = [0];
  checkStatus('NetUserSetInfo', NetUserSetInfoFlags(null, name, 1008, { flags }, parm), `${name} flags`);
}

export function deleteUser(name: string): void {
  checkStatus('NetUserDel', NetUserDel(null, name), name);
}

/** Deletes an account's profile folder and registry data; false when it never had one. */
export function deleteProfile(sid: string): boolean {
  if (DeleteProfileW(sid, null, null)) return true;
  const e = new Win32Error('DeleteProfileW', lastError(), sid);
  if (e.code === 2 || e.code === 3) return false;
  throw e;
}

export function addLocalGroup(name: string, comment: string): void {
  const parm = [0];
  checkStatus('NetLocalGroupAdd', NetLocalGroupAdd(null, 1, { name, comment }, parm), name);
}

export function deleteLocalGroup(name: string): void {
  checkStatus('NetLocalGroupDel', NetLocalGroupDel(null, name), name);
}

/** Member SIDs of a local group (by its local name). */
export function localGroupMembers(group: string): string[] {
  const buf: Pointer[] = [null];
  const read = [0];
  const total = [0];
  checkStatus(
    'NetLocalGroupGetMembers',
    NetLocalGroupGetMembers(null, group, 0, buf, MAX_PREFERRED_LENGTH, read, total, null),
    group,
  );
  return withNetBuffer(buf[0] as bigint, (p) =>
    Array.from({ length: read[0] }, (_, i) => sidToString(koffi().decode(p, i * 8, 'void *') as bigint)),
  );
}

/** Adds a member by SID (LOCALGROUP_MEMBERS_INFO_0): no name resolution involved. Already a member is fine. */
export function addLocalGroupMember(group: string, memberSid: string): void {
  const sid = Sid.parse(memberSid);
  try {
    const status = NetLocalGroupAddMembers(null, group, 0, [sid.pointer], 1) as number;
    if (status === NetError.ERROR_MEMBER_IN_ALIAS) return;
    checkStatus('NetLocalGroupAddMembers', status, `${memberSid} to ${group}`);
  } finally {
    sid.close();
  }
}

/** This computer's NetBIOS name. */
export function computerName(): string {
  const buf = Buffer.alloc(64 * 2);
  const size = [64];
  checkBool('GetComputerNameW', GetComputerNameW(buf, size));
  return fromWide(buf, size[0]);
}

export const SidType = { User: 1, Group: 2, Alias: 4, WellKnownGroup: 5 } as const;

/**
 * Resolves `<this computer>\name` to a SID, or undefined when there is no such local account or group. The
 * account type must be one of `types` (so a computer-named lookup can never return something unexpected).
 */
export function lookupLocalAccount(name: string, types: number[]): string | undefined {
  const qualified = `${computerName()}\\${name}`;
  const sid = Buffer.alloc(68);
  const cbSid = [sid.length];
  const domain = Buffer.alloc(256 * 2);
  const cchDomain = [256];
  const use = [0];
  if (!LookupAccountNameW(null, qualified, sid, cbSid, domain, cchDomain, use)) {
    const e = new Win32Error('LookupAccountNameW', lastError(), qualified);
    if (e.code === NetError.ERROR_NONE_MAPPED) return undefined;
    throw e;
  }
  if (!types.includes(use[0])) {
    throw new Win32Error(
      'LookupAccountNameW',
      1332,
      `${qualified} is of account type ${use[0]}, not ${types.join('/')}`,
    );
  }
  return sidToString(koffi().address(sid));
}

/** The local name of an account or alias by SID (e.g. the localized name of builtin Users). */
export function accountNameOfSid(sidText: string): string {
  const sid = Sid.parse(sidText);
  try {
    const name = Buffer.alloc(256 * 2);
    const cch = [256];
    const domain = Buffer.alloc(256 * 2);
    const cchDomain = [256];
    const use = [0];
    checkBool('LookupAccountSidW', LookupAccountSidW(null, sid.pointer, name, cch, domain, cchDomain, use), sidText);
    return fromWide(name, cch[0]);
  } finally {
    sid.close();
  }
}
