// Wine tier: the volume calls behind the network-share / FAT refusal (review §3.14): GetVolumePathNameW,
// GetDriveTypeW and GetVolumeInformationW marshalled through koffi, and a failed call throwing. Plumbing only: what
// Wine answers about its drives is not what a real FAT stick or SMB share would answer (needs real Windows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DriveType, volumeInfo } from '../../../native-bindings/win32/volume';
import { Win32Error } from '../../../native-bindings/win32/errors';
import { fileSecurityStore } from '../../../src/sandbox/windows/file-store';

test('volume facts under Wine: the root, drive type and file system of C:\\ and of a folder on it come back; a drive that does not exist throws; the store asks about the nearest existing folder (plumbing only)', () => {
  const c = volumeInfo('C:\\');
  assert.equal(c.root.toUpperCase(), 'C:\\');
  assert.equal(c.driveType, DriveType.FIXED);
  assert.ok(c.fileSystem.length > 0, 'a file-system name came back');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-vol-'));
  try {
    const d = volumeInfo(dir);
    assert.equal(d.root.toUpperCase(), path.parse(dir).root.toUpperCase());
    assert.deepEqual(
      { ...d, root: d.root.toUpperCase() },
      { ...volumeInfo(path.parse(dir).root), root: d.root.toUpperCase() },
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(
    () => volumeInfo('Q:\\nowhere\\x'),
    (e) => e instanceof Win32Error,
  );
  // The store asks about the nearest existing folder (the sandbox's temp may not exist yet).
  const store = fileSecurityStore(os.tmpdir());
  assert.equal(
    store.volume(path.join(os.tmpdir(), 'as-missing-x', 'y')).root.toUpperCase(),
    path.parse(os.tmpdir()).root.toUpperCase(),
  );
});
