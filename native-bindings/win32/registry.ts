/**
 * The few registry operations elevated setup needs, all under HKEY_LOCAL_MACHINE in the 64-bit view: the setup
 * marker (SOFTWARE\AgentSandbox) and hiding accounts from the sign-in screen (Winlogon\SpecialAccounts\UserList).
 * Must never delete a key it did not create, nor write outside those two keys (callers pass the key).
 */
import { checkStatus } from './errors';
import { lazyFn } from './lib';

/** (HKEY)(ULONG_PTR)(LONG)0x80000002, sign-extended as Windows defines it. */
const HKEY_LOCAL_MACHINE = 0xffffffff80000002n;
const KEY_READ = 0x20019;
const KEY_WRITE = 0x20006;
const KEY_WOW64_64KEY = 0x100;
const REG_SZ = 1;
const REG_DWORD = 4;
const RRF_RT_REG_SZ = 0x2;
const RRF_RT_REG_DWORD = 0x10;
const RRF_SUBKEY_WOW6464KEY = 0x10000;
const ERROR_FILE_NOT_FOUND = 2;

const RegCreateKeyExW = lazyFn(
  'advapi32.dll',
  'int32 RegCreateKeyExW(void *key, str16 subKey, uint32 reserved, void *cls, ' +
    'uint32 options, uint32 sam, void *sa, _Out_ void **result, _Out_ uint32 *disposition)',
);
const RegSetValueExW = lazyFn(
  'advapi32.dll',
  'int32 RegSetValueExW(void *key, str16 name, uint32 reserved, uint32 type, uint8_t *data, uint32 size)',
);
const RegGetValueW = lazyFn(
  'advapi32.dll',
  'int32 RegGetValueW(void *key, str16 subKey, str16 value, uint32 flags, ' +
    '_Out_ uint32 *type, _Out_ uint8_t *data, _Inout_ uint32 *size)',
);
const RegDeleteKeyValueW = lazyFn('advapi32.dll', 'int32 RegDeleteKeyValueW(void *key, str16 subKey, str16 value)');
const RegDeleteKeyExW = lazyFn(
  'advapi32.dll',
  'int32 RegDeleteKeyExW(void *key, str16 subKey, uint32 sam, uint32 reserved)',
);
const RegCloseKey = lazyFn('advapi32.dll', 'int32 RegCloseKey(void *key)');
const RegOpenKeyExW = lazyFn(
  'advapi32.dll',
  'int32 RegOpenKeyExW(void *key, str16 subKey, uint32 options, uint32 sam, _Out_ void **out)',
);
const RegQueryInfoKeyW = lazyFn(
  'advapi32.dll',
  'int32 RegQueryInfoKeyW(void *key, void *cls, void *clsLen, void *reserved, ' +
    '_Out_ uint32 *subKeys, void *maxSubKeyLen, void *maxClassLen, _Out_ uint32 *values, void *maxValueNameLen, void *maxValueLen, ' +
    'void *sdLen, void *lastWrite)',
);

export type RegValue = string | number;

/** Sets values under HKLM\subKey, creating the key when missing. */
export function setMachineValues(subKey: string, values: Record<string, RegValue>): void {
  const key: (bigint | null)[] = [null];
  checkStatus(
    'RegCreateKeyExW',
    RegCreateKeyExW(HKEY_LOCAL_MACHINE, subKey, 0, null, 0, KEY_READ | KEY_WRITE | KEY_WOW64_64KEY, null, key, [0]),
    subKey,
  );
  try {
    for (const [name, v] of Object.entries(values)) {
      const data = typeof v === 'number' ? uint32(v) : Buffer.from(v + '\0', 'utf16le');
      checkStatus(
        'RegSetValueExW',
        RegSetValueExW(key[0], name, 0, typeof v === 'number' ? REG_DWORD : REG_SZ, data, data.length),
        `${subKey}\\${name}`,
      );
    }
  } finally {
    RegCloseKey(key[0]);
  }
}

function uint32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

/** Reads a REG_DWORD or REG_SZ value under HKLM, or undefined when the key or value is missing. */
export function getMachineValue(subKey: string, name: string, kind: 'dword' | 'string'): RegValue | undefined {
  const flags = (kind === 'dword' ? RRF_RT_REG_DWORD : RRF_RT_REG_SZ) | RRF_SUBKEY_WOW6464KEY;
  const size = [kind === 'dword' ? 4 : 2048];
  const data = Buffer.alloc(size[0]);
  const status = RegGetValueW(HKEY_LOCAL_MACHINE, subKey, name, flags, [0], data, size) as number;
  if (status === ERROR_FILE_NOT_FOUND) return undefined;
  checkStatus('RegGetValueW', status, `${subKey}\\${name}`);
  if (kind === 'dword') return data.readUInt32LE(0);
  return data.toString('utf16le', 0, size[0]).replace(/\0+$/, '');
}

/** Deletes one value; a missing value is fine. */
export function deleteMachineValue(subKey: string, name: string): void {
  const status = RegDeleteKeyValueW(HKEY_LOCAL_MACHINE, subKey, name) as number;
  if (status !== ERROR_FILE_NOT_FOUND) checkStatus('RegDeleteKeyValueW', status, `${subKey}\\${name}`);
}

/** Deletes a key without subkeys; a missing key is fine. */
export function deleteMachineKey(subKey: string): void {
  const status = RegDeleteKeyExW(HKEY_LOCAL_MACHINE, subKey, KEY_WOW64_64KEY, 0) as number;
  if (status !== ERROR_FILE_NOT_FOUND) checkStatus('RegDeleteKeyExW', status, subKey);
}

/** Whether HKLM\subKey exists (64-bit view). */
export function machineKeyExists(subKey: string): boolean {
  const key: (bigint | null)[] = [null];
  const status = RegOpenKeyExW(HKEY_LOCAL_MACHINE, subKey, 0, KEY_READ | KEY_WOW64_64KEY, key) as number;
  if (status === ERROR_FILE_NOT_FOUND) return false;
  checkStatus('RegOpenKeyExW', status, subKey);
  RegCloseKey(key[0]);
  return true;
}

/** Deletes a key only when it holds no values and no subkeys (a key other software may share); a missing key is fine. */
export function deleteMachineKeyIfEmpty(subKey: string): boolean {
  const key: (bigint | null)[] = [null];
  const status = RegOpenKeyExW(HKEY_LOCAL_MACHINE, subKey, 0, KEY_READ | KEY_WOW64_64KEY, key) as number;
  if (status === ERROR_FILE_NOT_FOUND) return false;
  checkStatus('RegOpenKeyExW', status, subKey);
  const subKeys = [0];
  const values = [0];
  try {
    checkStatus(
      'RegQueryInfoKeyW',
      RegQueryInfoKeyW(key[0], null, null, null, subKeys, null, null, values, null, null, null, null),
      subKey,
    );
  } finally {
    RegCloseKey(key[0]);
  }
  if (subKeys[0] || values[0]) return false;
  deleteMachineKey(subKey);
  return true;
}
