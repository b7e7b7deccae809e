// Wine tier: SID parsing/formatting and Win32Error marshalling. Wine implements SID conversion faithfully.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalSid,
  isSidString,
  randomCapabilitySid,
  Sid,
  WellKnownSid,
  withSid,
} from '../../../native-bindings/win32/sid';
import { Win32Error } from '../../../native-bindings/win32/errors';

test('SID string round-trips through ConvertStringSidToSidW/ConvertSidToStringSidW', () => {
  for (const s of [WellKnownSid.Everyone, WellKnownSid.Users, 'S-1-5-21-1-2-3-1000', randomCapabilitySid()]) {
    assert.equal(canonicalSid(s), s);
  }
});

test('SID length and equality come from the native SID', () => {
  withSid('S-1-5-21-1-2-3-4', (a) => {
    assert.equal(a.byteLength, 8 + 4 * 5);
    withSid('S-1-5-21-1-2-3-4', (b) => assert.ok(a.equals(b)));
    withSid('S-1-1-0', (c) => assert.ok(!a.equals(c)));
  });
});

test('a malformed SID string throws Win32Error 1337 naming the API and with a system message', () => {
  assert.throws(
    () => Sid.parse('S-1-banana'),
    (e: unknown) => {
      assert.ok(e instanceof Win32Error);
      assert.equal(e.api, 'ConvertStringSidToSidW');
      assert.equal(e.code, 1337);
      assert.match(e.message, /ConvertStringSidToSidW failed with error 1337: \S+/);
      return true;
    },
  );
});

test('random capability SIDs are valid, distinct and in the S-1-5-21 form', () => {
  const a = randomCapabilitySid();
  const b = randomCapabilitySid();
  assert.notEqual(a, b);
  assert.ok(isSidString(a));
  assert.match(a, /^S-1-5-21-\d+-\d+-\d+-\d+$/);
});

test('Sid.close is idempotent and a closed SID refuses use', () => {
  const s = Sid.parse('S-1-1-0');
  s.close();
  s.close();
  assert.throws(() => s.pointer, /already closed/);
});
