// Wine tier: token queries and the restricted-token builder. Wine returns TRUE from CreateRestrictedToken but drops
// WRITE_RESTRICTED and the restricting SIDs, so nothing here claims the token restricts anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildRestrictedToken,
  createRestrictedToken,
  openProcessToken,
  RestrictedTokenFlags,
  tokenIntegrityRid,
  tokenLogonSid,
  tokenRestrictingSids,
  tokenUserSid,
} from '../../../native-bindings/win32/token';
import { Win32Error } from '../../../native-bindings/win32/errors';
import { randomCapabilitySid } from '../../../native-bindings/win32/sid';
import { isWine } from '../../../native-bindings/win32/wine';

test('the process token reports a user SID, a logon SID and an integrity level', () => {
  const t = openProcessToken();
  try {
    assert.match(tokenUserSid(t), /^S-1-5-21-/);
    assert.match(tokenLogonSid(t), /^S-1-5-5-\d+-\d+$/);
    assert.ok(tokenIntegrityRid(t) >= 0x1000);
  } finally {
    t.close();
  }
});

test('buildRestrictedToken succeeds with capability, logon and Everyone restricting SIDs (plumbing only; Wine does not enforce WRITE_RESTRICTED)', () => {
  const own = openProcessToken();
  const logon = tokenLogonSid(own);
  own.close();
  const cap = randomCapabilitySid();
  const t = buildRestrictedToken({
    flags:
      RestrictedTokenFlags.DISABLE_MAX_PRIVILEGE |
      RestrictedTokenFlags.LUA_TOKEN |
      RestrictedTokenFlags.WRITE_RESTRICTED,
    restrictingSids: [cap, logon, 'S-1-1-0'],
    keepPrivileges: ['SeChangeNotifyPrivilege'],
    defaultDacl: [
      { sid: logon, mask: 0x10000000 },
      { sid: cap, mask: 0x10000000 },
    ],
  });
  try {
    assert.equal(tokenUserSid(t), tokenUserSid(openProcessToken()));
  } finally {
    t.close();
    t.close();
  }
});

test(
  'restricting SIDs read back from the token (needs real Windows)',
  { skip: isWine() && 'Wine does not implement TokenRestrictedSids' },
  () => {
    const own = openProcessToken();
    const cap = randomCapabilitySid();
    const t = createRestrictedToken(own, RestrictedTokenFlags.WRITE_RESTRICTED, [cap, 'S-1-1-0']);
    try {
      assert.deepEqual(tokenRestrictingSids(t).sort(), [cap, 'S-1-1-0'].sort());
    } finally {
      t.close();
      own.close();
    }
  },
);

test('an unknown privilege name throws Win32Error from LookupPrivilegeValueW', () => {
  assert.throws(
    () =>
      buildRestrictedToken({ flags: 0, restrictingSids: [], keepPrivileges: ['SeNoSuchPrivilege'], defaultDacl: [] }),
    (e: unknown) => e instanceof Win32Error && e.api === 'LookupPrivilegeValueW' && e.code === 1313,
  );
});

test('a bad restricting SID throws Win32Error 1337 before any token is created', () => {
  const own = openProcessToken();
  try {
    assert.throws(
      () => createRestrictedToken(own, 0, ['S-1-nope']),
      (e: unknown) => e instanceof Win32Error && e.code === 1337,
    );
  } finally {
    own.close();
  }
});

test("TokenElevationType reads as one of Default/Full/Limited (marshalling; Wine's user is an elevated administrator)", async () => {
  const { openProcessToken: open, tokenElevationType } = await import('../../../native-bindings/win32/token');
  using t = open();
  assert.ok([1, 2, 3].includes(tokenElevationType(t)));
});
