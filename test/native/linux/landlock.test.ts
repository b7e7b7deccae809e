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

  it('restricts writes to the allowed folder (skipped when the kernel has no Landlock)', { skip: abi < 1 && 'no Landlock' }, () => {
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
  });
});
