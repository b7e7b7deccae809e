// Unit: review §3.14 decided. A writable folder (or the sandbox's temp) on a network share or on a volume without
// persistent ACLs (FAT, exFAT), or on a volume that cannot be read, is refused at preparation with the reason and
// the fix, before any ACE is written, unless the plan accepts it (requireEnforceableVolumes false), and then the
// result carries a "NOT enforced" warning. What real FAT sticks and SMB shares answer needs real Windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepare, type Identity } from '../../src/sandbox/windows/prepare';
import { checkVolumes, volumeProblem } from '../../src/sandbox/windows/volumes';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';
import { Win32Error } from '../../native-bindings/win32/errors';
import { MemoryStore } from './win32-memory-store';

const ntfs = { root: 'C:\\', driveType: 3, fileSystem: 'NTFS', flags: 0x2 | 0x8 };
const refs = { root: 'D:\\', driveType: 3, fileSystem: 'ReFS', flags: 0x8 };
const fat = { root: 'E:\\', driveType: 2, fileSystem: 'FAT32', flags: 0x2 };
const exfat = { root: 'E:\\', driveType: 2, fileSystem: 'exFAT', flags: 0 };
const mapped = { root: 'Z:\\', driveType: 4, fileSystem: 'NTFS', flags: 0x8 };

test('volume decision: NTFS and ReFS hold; FAT32, exFAT, a mapped network drive, a UNC path and an unreadable volume do not', () => {
  assert.equal(volumeProblem('C:\\ws', ntfs), undefined);
  assert.equal(volumeProblem('D:\\ws', refs), undefined);
  assert.equal(volumeProblem('\\\\?\\C:\\ws', ntfs), undefined, 'a long-path prefix is not a share');
  assert.match(volumeProblem('E:\\ws', fat)!, /FAT32 volume \(E:\\\) without file permissions/);
  assert.match(volumeProblem('E:\\ws', exfat)!, /exFAT volume/);
  assert.match(volumeProblem('Z:\\ws', mapped)!, /network drive \(Z:\\\)/);
  assert.match(volumeProblem('\\\\server\\share\\ws', ntfs)!, /network share/);
  assert.match(volumeProblem('\\\\?\\UNC\\server\\share\\ws', ntfs)!, /network share/);
  assert.match(volumeProblem('C:\\ws', new Error('access denied'))!, /could not be read \(access denied\)/);
});

test('checkVolumes: refuses every problem at once with the fix and the setting; accepted, one NOT-enforced warning; all fine, nothing', () => {
  const read = (p: string) => (p.startsWith('E:') ? fat : p.startsWith('Z:') ? mapped : ntfs);
  assert.deepEqual(checkVolumes(['C:\\ws', 'C:\\tmp'], read, false), []);
  assert.throws(
    () => checkVolumes(['C:\\ws', 'E:\\stick', 'Z:\\share'], read, false),
    (e: Error & { code?: string; fix?: string }) =>
      e.code === 'volume-unenforceable' &&
      /E:\\stick is on a FAT32 volume/.test(e.message) &&
      /Z:\\share is on a network drive/.test(e.message) &&
      !/C:\\ws/.test(e.message) &&
      /local NTFS or ReFS drive/.test(e.fix ?? '') &&
      /requireEnforceableVolumes/.test(e.fix ?? ''),
  );
  const accepted = checkVolumes(['E:\\stick'], read, true);
  assert.equal(accepted.length, 1);
  assert.match(accepted[0], /NOT enforced.*E:\\stick is on a FAT32 volume/);
});

const id: Identity = { userSid: 'S-1-5-21-9-9-9-1000', logonSid: 'S-1-5-5-0-1', capabilities: {} };

function planFor(root: string, policy: object = {}): Win32Plan {
  const plan = compilePlan(
    { workspaceRoots: [root], ...policy },
    { platform: 'win32', home: 'C:\\Users\\me', userTemp: 'C:\\Users\\me\\T', env: {}, stateDir: 'C:\\state' },
  ) as Win32Plan;
  for (const c of plan.token.restrictingSids)
    if (c.kind === 'capability') id.capabilities[c.root.toLowerCase()] = 'S-1-5-21-1-2-3-4';
  return plan;
}

test('preparation: a workspace on a FAT volume is refused before any ACE is written; requireEnforceableVolumes false runs it with the warning; an unreadable volume is refused too', async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-vol-'));
  const opts = { stateDir, home: 'C:\\Users\\me', env: {} };
  try {
    const plan = planFor('E:\\ws');
    assert.equal(plan.acceptUnenforcedVolumes, undefined, 'refusing is the default');
    const store = new MemoryStore(['E:\\ws', plan.tempDir]);
    store.volumes.set('e:', fat);
    await assert.rejects(
      prepare(plan, id, store, opts),
      (e: Error & { code?: string }) =>
        e.code === 'volume-unenforceable' && /E:\\ws is on a FAT32 volume/.test(e.message),
    );
    assert.equal(store.writes, 0, 'nothing was written');
    // Control: the same workspace on NTFS prepares with no volume warning.
    const ok = await prepare(plan, id, new MemoryStore(['E:\\ws', plan.tempDir]), opts);
    assert.ok(!ok.warnings.some((w) => /NOT enforced there/.test(w)));
    const accepted = planFor('E:\\ws', { requireEnforceableVolumes: false });
    assert.equal(accepted.acceptUnenforcedVolumes, true);
    const store2 = new MemoryStore(['E:\\ws', accepted.tempDir]);
    store2.volumes.set('e:', fat);
    const r = await prepare(accepted, id, store2, opts);
    assert.ok(r.warnings.some((w) => /Writes are NOT enforced there: E:\\ws is on a FAT32 volume/.test(w)));
    const store3 = new MemoryStore(['E:\\ws', plan.tempDir]);
    store3.volumes.set('e:', new Win32Error('GetVolumeInformationW', 5));
    await assert.rejects(prepare(plan, id, store3, opts), /could not be read/);
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});
