import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MountGuard } from '../../src/sandbox/linux/guard';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a hidden path whose folder inotify cannot watch (missing at start) is polled: created later on the host, it stops the sandbox; control: left alone, it does not', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'as-guard-'));
  const cred = path.join(base, 'later', 'credentials');
  const quiet = path.join(base, 'never', 'credentials');
  const breaches: string[] = [];
  const control: string[] = [];
  const g = new MountGuard({ guardedPaths: [], hiddenSockets: [], denyRead: [cred], privateState: undefined });
  const c = new MountGuard({ guardedPaths: [], hiddenSockets: [], denyRead: [quiet], privateState: undefined });
  g.onBreach = (r) => breaches.push(r);
  c.onBreach = (r) => control.push(r);
  try {
    fs.mkdirSync(path.dirname(cred));
    fs.writeFileSync(cred, 'secret');
    await wait(800);
    assert.equal(breaches.length, 1, 'the new credential was noticed without an inotify watch on its folder');
    assert.match(breaches[0], /credentials was replaced/);
    assert.deepEqual(control, []);
  } finally {
    g.close();
    c.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
});
