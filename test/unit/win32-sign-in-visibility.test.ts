// Unit: hiding the sandbox accounts from the sign-in screen over an in-memory HKLM. Setup records which of
// Winlogon\SpecialAccounts and its UserList it created before creating them; uninstall removes only our values and
// deletes only keys it created, once empty. Whether Windows then hides the accounts needs a real machine; the Wine
// tier checks the registry calls (plumbing only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createdKeys,
  hideFromSignIn,
  isHiddenFromSignIn,
  unhideFromSignIn,
  type MachineRegistry,
} from '../../src/sandbox/windows/setup/sign-in-visibility';
import {
  CREATED_KEYS_KEY,
  HIDE_USERS_KEY,
  SANDBOX_USERS,
  SPECIAL_ACCOUNTS_KEY,
} from '../../src/sandbox/windows/setup/constants';

const OURS = Object.values(SANDBOX_USERS);

/** HKLM as key → values; creating a key creates its parents, as RegCreateKeyExW does. */
class MemoryRegistry implements MachineRegistry {
  keys = new Map<string, Map<string, string | number>>();
  constructor(existing: Record<string, Record<string, string | number>> = {}) {
    for (const [k, v] of Object.entries(existing)) this.create(k, v);
  }
  private create(subKey: string, values: Record<string, string | number> = {}) {
    const parts = subKey.split('\\');
    for (let i = 1; i <= parts.length; i++) {
      const k = parts.slice(0, i).join('\\').toLowerCase();
      if (!this.keys.has(k)) this.keys.set(k, new Map());
    }
    for (const [n, v] of Object.entries(values)) this.keys.get(subKey.toLowerCase())!.set(n, v);
  }
  keyExists(subKey: string) {
    return this.keys.has(subKey.toLowerCase());
  }
  getValue(subKey: string, name: string) {
    return this.keys.get(subKey.toLowerCase())?.get(name);
  }
  setValues(subKey: string, values: Record<string, string | number>) {
    this.create(subKey, values);
  }
  deleteValue(subKey: string, name: string) {
    this.keys.get(subKey.toLowerCase())?.delete(name);
  }
  deleteKey(subKey: string) {
    const k = subKey.toLowerCase();
    if ([...this.keys.keys()].some((o) => o.startsWith(`${k}\\`))) throw new Error('has subkeys');
    this.keys.delete(k);
  }
  deleteKeyIfEmpty(subKey: string) {
    const k = subKey.toLowerCase();
    if (!this.keys.has(k) || this.keys.get(k)!.size || [...this.keys.keys()].some((o) => o.startsWith(`${k}\\`)))
      return false;
    this.keys.delete(k);
    return true;
  }
}

function setupThenUninstall(reg: MemoryRegistry) {
  for (const n of OURS) hideFromSignIn(reg, n);
  for (const n of OURS) assert.ok(isHiddenFromSignIn(reg, n), n);
  for (const n of OURS) unhideFromSignIn(reg, n, OURS);
  for (const n of OURS) assert.equal(isHiddenFromSignIn(reg, n), false);
  assert.equal(reg.keyExists(CREATED_KEYS_KEY), false, 'no record of ours is left');
}

test('sign-in visibility: keys setup created are recorded before they exist, and removed with the last of our values', () => {
  const reg = new MemoryRegistry({
    'SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon': { Shell: 'explorer.exe' },
  });
  const seen: boolean[] = [];
  const set = reg.setValues.bind(reg);
  reg.setValues = (k, v) => {
    // When our value is written, the keys it creates are already recorded.
    if (k === HIDE_USERS_KEY) seen.push(createdKeys(reg).length === 2);
    set(k, v);
  };
  hideFromSignIn(reg, OURS[0]);
  hideFromSignIn(reg, OURS[1]);
  assert.deepEqual(seen, [true, true]);
  assert.deepEqual(createdKeys(reg), [SPECIAL_ACCOUNTS_KEY, HIDE_USERS_KEY]);
  unhideFromSignIn(reg, OURS[0], OURS);
  assert.ok(reg.keyExists(HIDE_USERS_KEY), 'kept while another of our accounts is hidden');
  unhideFromSignIn(reg, OURS[1], OURS);
  assert.equal(reg.keyExists(HIDE_USERS_KEY), false);
  assert.equal(reg.keyExists(SPECIAL_ACCOUNTS_KEY), false);
  assert.equal(reg.keyExists('SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon'), true);
  assert.equal(reg.keyExists(CREATED_KEYS_KEY), false);
});

test('sign-in visibility: SpecialAccounts\\UserList that predated setup stays after uninstall, even when empty', () => {
  const reg = new MemoryRegistry({ [HIDE_USERS_KEY]: {} });
  setupThenUninstall(reg);
  assert.equal(reg.keyExists(HIDE_USERS_KEY), true, 'UserList predated setup');
  assert.equal(reg.keyExists(SPECIAL_ACCOUNTS_KEY), true);
});

test("sign-in visibility: another program's hidden account keeps its value; only ours are removed", () => {
  const reg = new MemoryRegistry({ [HIDE_USERS_KEY]: { HelpDesk: 0 } });
  setupThenUninstall(reg);
  assert.deepEqual([...reg.keys.get(HIDE_USERS_KEY.toLowerCase())!.entries()], [['HelpDesk', 0]]);
});

test('sign-in visibility: SpecialAccounts that predated setup (without UserList) stays; the UserList setup made goes', () => {
  const reg = new MemoryRegistry({ [SPECIAL_ACCOUNTS_KEY]: {} });
  setupThenUninstall(reg);
  assert.equal(reg.keyExists(HIDE_USERS_KEY), false);
  assert.equal(reg.keyExists(SPECIAL_ACCOUNTS_KEY), true);
});

test('sign-in visibility: a UserList setup made that another program has since used stays with its value, and is forgotten', () => {
  const reg = new MemoryRegistry();
  for (const n of OURS) hideFromSignIn(reg, n);
  reg.setValues(HIDE_USERS_KEY, { HelpDesk: 0 });
  for (const n of OURS) unhideFromSignIn(reg, n, OURS);
  assert.deepEqual([...reg.keys.get(HIDE_USERS_KEY.toLowerCase())!.keys()], ['HelpDesk']);
  assert.equal(reg.keyExists(CREATED_KEYS_KEY), false);
});

test('sign-in visibility: a setup rerun (keys now ours and present) records nothing new; a crash after the record is completed', () => {
  const reg = new MemoryRegistry();
  hideFromSignIn(reg, OURS[0]);
  hideFromSignIn(reg, OURS[0]);
  assert.deepEqual(createdKeys(reg), [SPECIAL_ACCOUNTS_KEY, HIDE_USERS_KEY]);
  // Crash between the record and the key: the record alone, then the next setup and an uninstall.
  const crashed = new MemoryRegistry();
  crashed.setValues(CREATED_KEYS_KEY, { Names: JSON.stringify([SPECIAL_ACCOUNTS_KEY, HIDE_USERS_KEY]) });
  setupThenUninstall(crashed);
  assert.equal(crashed.keyExists(SPECIAL_ACCOUNTS_KEY), false);
});

test('sign-in visibility: an unreadable record throws (never read as "no keys of ours")', () => {
  const reg = new MemoryRegistry({ [CREATED_KEYS_KEY]: { Names: '{"not":"a list"}' } });
  assert.throws(() => hideFromSignIn(reg, OURS[0]), /not a list of keys/);
});
