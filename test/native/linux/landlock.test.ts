/**
 * The Landlock binding on its own (no bubblewrap): a child process restricts itself and then can write only
 * beneath the allowed folder. Proves Landlock enforces, independently of the bwrap mounts it backs up.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { landlockAbi } from '../../../native-bindings/linux/landlock';
import { NODE, tempDir } from './helpers';

const abi = landlockAbi();

describe('landlock binding', () => {
  it(`reports the kernel ABI (${abi})`, () => {
    assert.ok(Number.isInteger(abi) && abi >= 0);
  });

  it(
    'restricts writes to the allowed folder (skipped when the kernel has no Landlock)',
    { skip: abi < 1 && 'no Landlock' },
    () => {
      const allowed = tempDir('as-ll-ok-');
      const denied = tempDir('as-ll-no-');
      const mod = path.join(__dirname, '..', '..', '..', 'native-bindings', 'linux');
      const script = `
      const { setNoNewPrivs } = require(${JSON.stringify(path.join(mod, 'prctl.js'))});
      const { restrictSelf } = require(${JSON.stringify(path.join(mod, 'landlock.js'))});
      const fs = require('fs');
      setNoNewPrivs();
      const r = restrictSelf({ writablePaths: [${JSON.stringify(allowed)}], denyTcp: false, scope: true });
      fs.writeFileSync(${JSON.stringify(path.join(allowed, 'ok'))}, 'ok');
      try { fs.writeFileSync(${JSON.stringify(path.join(denied, 'no'))}, 'no'); console.log('WROTE'); }
      catch (e) { console.log('DENIED ' + e.code); }
      console.log(r.applied.join('; '));`;
      const r = spawnSync(NODE, ['-e', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /DENIED EACCES/);
      assert.match(r.stdout, new RegExp(`Landlock ABI ${abi}`));
      assert.equal(fs.readFileSync(path.join(allowed, 'ok'), 'utf8'), 'ok');
      assert.equal(fs.existsSync(path.join(denied, 'no')), false);
    },
  );
});

describe('requireFullLandlock (through the real sandbox)', () => {
  it("a kernel below the required ABI runs nothing, and the refusal names what is lost (control: at the kernel's own ABI the command runs)", async () => {
    const { coldBackend, plan, run, sh } = await import('./helpers');
    const backend = coldBackend();
    try {
      const ws = tempDir('as-ll-req-');
      const p = plan({ workspaceRoots: [ws], requireFullLandlock: true });
      assert.equal(p.landlock.requiredAbi, 6);
      const above = { ...p, landlock: { ...p.landlock, requiredAbi: abi + 1 } };
      await assert.rejects(
        run(backend, above, sh('echo ran > marker')),
        (e: Error & { code?: string }) =>
          e.code === 'landlock-unavailable' && /below the .* requireFullLandlock .*Lost: /.test(e.message),
      );
      assert.equal(fs.existsSync(path.join(ws, 'marker')), false, 'nothing ran');
      const at = { ...p, landlock: { ...p.landlock, requiredAbi: abi } };
      assert.equal((await run(backend, at, sh('echo ran > marker'))).code, 0);
      assert.equal(
        fs.readFileSync(path.join(ws, 'marker'), 'utf8'),
        'ran\n',
        "control: the same plan runs at the kernel's ABI",
      );
    } finally {
      await backend.dispose();
    }
  });
});
