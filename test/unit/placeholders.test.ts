// The one placeholder ledger: a placeholder is taken back only while it is the same file or folder that was made
// (same inode) and still as made; the Windows store now applies the same rule (before, it compared content only).
// Runs on the host file system; the Windows store's create/remove use no Win32 API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PlaceholderLedger } from '../../src/sandbox/placeholders';
import { fileSecurityStore } from '../../src/sandbox/windows/file-store';

function scratch() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'as-ph-'));
  fs.mkdirSync(path.join(base, 'ws'));
  return { base, state: path.join(base, 'state') };
}

test('placeholder ledger: an unchanged placeholder is removed; one replaced by an identical empty file, or filled, is kept with why', () => {
  const { base, state } = scratch();
  try {
    const ledger = new PlaceholderLedger(path.join(state, 'ph'));
    const same = path.join(base, 'ws', 'same');
    const swapped = path.join(base, 'ws', 'swapped');
    const filled = path.join(base, 'ws', 'filled');
    for (const p of [same, swapped, filled]) assert.equal(ledger.make(p, 'file'), true);
    assert.equal(ledger.make(same, 'file'), false, 'an existing path is never claimed');
    // Same name, same (empty) content, another inode (made before the rename, so the number cannot be reused).
    fs.writeFileSync(`${swapped}.new`, '');
    fs.renameSync(`${swapped}.new`, swapped);
    fs.writeFileSync(filled, 'data');
    const outcomes = Object.fromEntries(ledger.records().map((m) => [path.basename(m.path), ledger.takeBack(m)]));
    assert.equal(outcomes.same, 'removed', 'control: what is still as made goes');
    assert.match((outcomes.swapped as { reason: string }).reason, /replaced/);
    assert.match((outcomes.filled as { reason: string }).reason, /has content/);
    assert.ok(fs.existsSync(swapped) && fs.existsSync(filled));
    assert.deepEqual(ledger.records(), [], 'decided records are dropped');
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('Windows store: a created placeholder is removed while it is the one made; a look-alike put in its place is kept (inode checked, as on Linux)', () => {
  const { base, state } = scratch();
  try {
    const store = fileSecurityStore(state);
    const hooks = path.join(base, 'ws', '.git', 'hooks');
    assert.deepEqual(
      store.create(hooks, 'dir'),
      [path.join(base, 'ws', '.git'), hooks],
      'the missing parent is made and reported too',
    );
    const config = path.join(base, 'ws', '.git', 'config');
    assert.deepEqual(store.create(config, 'file'), [config]);
    fs.writeFileSync(`${config}.new`, '');
    fs.renameSync(`${config}.new`, config);
    assert.equal(store.removeIfEmpty(config), false, 'a replaced file is not ours to delete, though empty');
    assert.equal(store.removeIfEmpty(hooks), true, 'control: the folder we made, still empty, goes');
    assert.ok(fs.existsSync(config));
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
