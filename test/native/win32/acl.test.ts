// Wine tier: SetEntriesInAclW / GetExplicitEntriesFromAclW / SDDL marshalling. Wine implements ACL building
// faithfully; it does NOT store or enforce file DACLs, so nothing here claims a file is protected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  applyFileEntries,
  applyFileEntriesAsync,
  applyFileEntriesInPlace,
  explicitEntries,
  mergeEntries,
  readFileSecurity,
  SecurityDescriptor,
} from '../../../native-bindings/win32/acl';
import { Win32Error } from '../../../native-bindings/win32/errors';
import { fileSecurityStore } from '../../../src/sandbox/windows/file-store';
import { applyOperations, emptyLedger, revertLedger } from '../../../src/sandbox/windows/ledger';
import { randomCapabilitySid } from '../../../native-bindings/win32/sid';
import { DENY_WRITE_MASK, WRITABLE_ROOT_MASK } from '../../../src/policy/compile-win32';

test('SetEntriesInAclW results read back through GetExplicitEntriesFromAclW (grant + deny, masks and inheritance)', () => {
  const cap = randomCapabilitySid();
  const acl = mergeEntries(null, [
    { sid: cap, mode: 'grant', mask: WRITABLE_ROOT_MASK.value, inheritance: 3 },
    { sid: 'S-1-1-0', mode: 'deny', mask: DENY_WRITE_MASK.value, inheritance: 0 },
  ]);
  try {
    const back = explicitEntries(acl.value);
    assert.deepEqual(
      back.find((e) => e.sid === cap),
      { sid: cap, mode: 'grant', mask: WRITABLE_ROOT_MASK.value, inheritance: 3 },
    );
    assert.deepEqual(
      back.find((e) => e.sid === 'S-1-1-0'),
      { sid: 'S-1-1-0', mode: 'deny', mask: DENY_WRITE_MASK.value, inheritance: 0 },
    );
  } finally {
    acl.close();
  }
});

test('merging REVOKE for a SID removes its entries and keeps the others', () => {
  const cap = randomCapabilitySid();
  const first = mergeEntries(null, [
    { sid: cap, mode: 'grant', mask: 0x1, inheritance: 0 },
    { sid: 'S-1-5-32-545', mode: 'grant', mask: 0x1, inheritance: 0 },
  ]);
  const second = mergeEntries(first.value, [{ sid: cap, mode: 'revoke', mask: 0, inheritance: 0 }]);
  try {
    assert.deepEqual(
      explicitEntries(second.value).map((e) => e.sid),
      ['S-1-5-32-545'],
    );
  } finally {
    first.close();
    second.close();
  }
});

test('SDDL round-trips through a security descriptor, and its DACL decodes', () => {
  const cap = randomCapabilitySid();
  const sddl = `D:P(A;OICI;0x1301bf;;;${cap})(D;;DCLCRPDTCRSDWDWO;;;WD)`;
  const sd = SecurityDescriptor.fromSddl(sddl);
  try {
    assert.equal(sd.toSddl(), sddl);
    const entries = explicitEntries(sd.dacl()!);
    assert.equal(entries.length, 2);
    assert.equal(entries[0].sid, cap);
    assert.equal(entries[0].mask, 0x1301bf);
  } finally {
    sd.close();
  }
});

test('a malformed SDDL throws Win32Error from ConvertStringSecurityDescriptorToSecurityDescriptorW', () => {
  assert.throws(
    () => SecurityDescriptor.fromSddl('D:(X;;;;;nonsense)'),
    (e: unknown) =>
      e instanceof Win32Error && e.api === 'ConvertStringSecurityDescriptorToSecurityDescriptorW' && e.code !== 0,
  );
});

test('GetNamedSecurityInfoW reads a folder DACL (read path only; Wine maps file DACLs to mode bits)', () => {
  const sec = readFileSecurity(process.cwd());
  try {
    assert.match(sec.toSddl(), /^D:/);
  } finally {
    sec.close();
  }
});

test('GetNamedSecurityInfoW on a missing path throws Win32Error 2 or 3', () => {
  assert.throws(
    () => readFileSecurity('C:\\no\\such\\agent-sandbox-path'),
    (e: unknown) => e instanceof Win32Error && e.api === 'GetNamedSecurityInfoW' && (e.code === 2 || e.code === 3),
  );
});

test("applyFileEntriesAsync: SetNamedSecurityInfoW runs on koffi's worker thread and resolves with the previous DACL, the same as the synchronous call (plumbing only; Wine does not store file DACLs)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-acl-async-'));
  try {
    const sid = randomCapabilitySid();
    const entries = [{ sid, mode: 'grant' as const, mask: WRITABLE_ROOT_MASK.value, inheritance: 3 }];
    const pending = applyFileEntriesAsync(dir, entries);
    assert.ok(pending instanceof Promise);
    const before = await pending;
    assert.match(before, /^D:/);
    assert.equal(applyFileEntries(dir, entries).slice(0, 2), 'D:', 'the synchronous path agrees');
    await assert.rejects(
      applyFileEntriesAsync('C:\\no\\such\\agent-sandbox-path', entries),
      (e: unknown) => e instanceof Win32Error && (e.code === 2 || e.code === 3),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('applyFileEntriesInPlace: SetFileSecurityW takes the absolute descriptor built around the merged DACL and returns the previous DACL; a missing path throws the API and code (plumbing only; Wine does not store custom-SID file ACEs, so whether the ACE holds, and that nothing propagates, is not checked here)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-acl-inplace-'));
  try {
    const sid = randomCapabilitySid();
    const entries = [{ sid, mode: 'grant' as const, mask: 0x1000a0, inheritance: 0 }];
    const before = applyFileEntriesInPlace(dir, entries);
    assert.match(before, /^D:/);
    // The merged ACL the call writes: the traverse ACE, non-inheriting, next to what the folder had.
    const sec = readFileSecurity(dir);
    const merged = mergeEntries(sec.dacl, entries);
    try {
      assert.deepEqual(
        explicitEntries(merged.value).find((e) => e.sid === sid),
        { sid, mode: 'grant', mask: 0x1000a0, inheritance: 0 },
      );
    } finally {
      merged.close();
      sec.close();
    }
    assert.throws(
      () => applyFileEntriesInPlace('C:\\no\\such\\agent-sandbox-path', entries),
      (e: unknown) => e instanceof Win32Error && e.api === 'GetNamedSecurityInfoW' && (e.code === 2 || e.code === 3),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the file store writes an in-place ACE through SetFileSecurityW for the ledger, which records it before the write and reverts it (plumbing only; Wine does not store custom-SID file ACEs)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-acl-ledger-inplace-'));
  try {
    const store = fileSecurityStore(path.join(dir, 'state'));
    const ledger = emptyLedger();
    const saved: number[] = [];
    const op = {
      path: dir,
      sid: randomCapabilitySid(),
      action: 'grant' as const,
      mask: 0x1000a0,
      inheritance: 0,
      reason: 'elevated-profile-traverse',
      inPlace: true as const,
    };
    const r = applyOperations([op], store, ledger, 'C:\\Users\\nobody', undefined, () =>
      saved.push(ledger.records.length),
    );
    assert.deepEqual(r.failures, []);
    assert.deepEqual(saved, [1], 'recorded before the write');
    assert.equal(ledger.records.length, 1);
    assert.equal(ledger.records[0].inPlace, true);
    assert.match(ledger.records[0].before, /^D:/, 'the DACL SetFileSecurityW replaced');
    assert.equal(revertLedger(ledger, store).failures.length, 0);
    assert.equal(ledger.records.length, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
