/**
 * Hiding the sandbox accounts from the sign-in screen: a DWORD 0 named after the account under
 * HKLM\...\Winlogon\SpecialAccounts\UserList. Neither key exists on a fresh Windows, but either may predate setup
 * (other software hides accounts too). Which of the two keys setup creates is recorded (under
 * HKLM\SOFTWARE\AgentSandboxCreatedKeys) before it creates them; unhiding removes only our value, and deletes
 * only a key setup recorded as created, once it is empty. Pure over the registry operations given.
 * Must never delete a key that predated setup, nor one that holds another program's values.
 */
import { CREATED_KEYS_KEY, HIDE_USERS_KEY, SPECIAL_ACCOUNTS_KEY } from './constants';

/** The HKLM operations this needs (native-bindings/win32/registry, or a map in tests). */
export interface MachineRegistry {
  keyExists(subKey: string): boolean;
  getValue(subKey: string, name: string, kind: 'dword' | 'string'): string | number | undefined;
  /** Sets values, creating the key and its missing parents. */
  setValues(subKey: string, values: Record<string, string | number>): void;
  deleteValue(subKey: string, name: string): void;
  deleteKey(subKey: string): void;
  /** Deletes the key when it holds no values and no subkeys; true when it did. */
  deleteKeyIfEmpty(subKey: string): boolean;
}

/** Outermost first, as they are created. */
const KEYS = [SPECIAL_ACCOUNTS_KEY, HIDE_USERS_KEY];

/** The keys setup recorded as created by it; an unreadable record throws (never read as "none of ours"). */
export function createdKeys(reg: MachineRegistry): string[] {
  const v = reg.getValue(CREATED_KEYS_KEY, 'Names', 'string');
  if (v === undefined) return [];
  const names: unknown = JSON.parse(String(v));
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))
    throw new Error(`HKLM\\${CREATED_KEYS_KEY}\\Names is not a list of keys`);
  return names;
}

function recordKeys(reg: MachineRegistry, names: string[]): void {
  if (names.length) reg.setValues(CREATED_KEYS_KEY, { Names: JSON.stringify(names) });
  else reg.deleteKey(CREATED_KEYS_KEY);
}

export function isHiddenFromSignIn(reg: MachineRegistry, name: string): boolean {
  return reg.getValue(HIDE_USERS_KEY, name, 'dword') === 0;
}

/** Records which of the two keys are missing (so ours), then writes the account's value. */
export function hideFromSignIn(reg: MachineRegistry, name: string): void {
  const recorded = createdKeys(reg);
  const missing = KEYS.filter((k) => !reg.keyExists(k) && !recorded.includes(k));
  if (missing.length) recordKeys(reg, [...recorded, ...missing]);
  reg.setValues(HIDE_USERS_KEY, { [name]: 0 });
}

/**
 * Removes the account's value. Once none of `ours` is left, each key setup created goes (deepest first) if it is
 * empty, and is forgotten either way: one still holding another program's values is not ours alone any more. A key
 * that predated setup is never deleted.
 */
export function unhideFromSignIn(reg: MachineRegistry, name: string, ours: string[]): void {
  reg.deleteValue(HIDE_USERS_KEY, name);
  if (ours.some((n) => reg.getValue(HIDE_USERS_KEY, n, 'dword') !== undefined)) return;
  const recorded = createdKeys(reg);
  if (!recorded.length) return;
  for (const k of [...KEYS].reverse()) if (recorded.includes(k) && reg.keyExists(k)) reg.deleteKeyIfEmpty(k);
  recordKeys(reg, []);
}
