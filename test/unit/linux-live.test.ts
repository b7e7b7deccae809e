import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { register, release } from '../../src/sandbox/linux/live';
import type { LinuxPlan } from '../../src/policy/plan';

test('release after the state folder was removed (uninstall, or by hand) makes nothing again; control: a release with the folder in place removes its entry and temp', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'as-live-'));
  try {
    const plan = (state: string) =>
      ({
        writableRoots: [],
        workspaceRoots: [],
        tempDir: path.join(state, 'tmp', 'p'),
        placeholders: [],
      }) as unknown as LinuxPlan;
    const kept = path.join(base, 'kept');
    const reg = register(kept, plan(kept));
    assert.equal(fs.readdirSync(path.join(kept, 'live')).length, 1);
    release(reg);
    assert.deepEqual(fs.readdirSync(path.join(kept, 'live')), [], 'control: its entry went');
    assert.equal(fs.existsSync(path.join(kept, 'tmp', 'p')), false, 'control: its temp went');
    const gone = path.join(base, 'gone');
    const reg2 = register(gone, plan(gone));
    fs.rmSync(gone, { recursive: true, force: true });
    release(reg2);
    assert.equal(fs.existsSync(gone), false, 'the removed state folder was not made again');
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
