/**
 * Linux backend status and enforcement report on this machine: ready, with the Landlock ABI the kernel offers,
 * and an enforcement report that names what is applied.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { landlockAbi } from '../../../native-bindings/linux/landlock';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { appliedEnforcement } from '../../../src/sandbox/linux/enforcement';
import { coldBackend, plan, tempDir } from './helpers';

describe('linux backend: status and enforcement', () => {
  it('is ready here and reports the Landlock ABI', async () => {
    const backend = coldBackend();
    const s = await backend.status();
    assert.equal(s.state, 'ready', s.fix);
    assert.equal(s.details.landlockAbi, String(landlockAbi()));
    await backend.dispose();
  });

  it('enforcement names bubblewrap, Landlock, seccomp and the network namespace', () => {
    const backend = coldBackend();
    const offline = backend.enforcement(plan({ workspaceRoots: [tempDir('as-enf-')] }));
    assert.equal(offline.filesystem, 'enforced');
    assert.equal(offline.network, 'enforced');
    const abi = landlockAbi();
    assert.ok(
      offline.notes.some((n) =>
        abi >= 1 ? n.startsWith(`Landlock ABI ${abi}`) : n.startsWith('Landlock unavailable'),
      ),
    );
    assert.ok(offline.notes.some((n) => n.startsWith('seccomp')));
    const online = backend.enforcement(plan({ workspaceRoots: [tempDir('as-enf-')], network: 'online' }));
    assert.equal(online.network, 'none');
  });

  it("a spawned command's notes are its runner's own report (Landlock ABI line, no_new_privs, seccomp), cold and brokered; a runner that reports less reads as less", async () => {
    const abi = landlockAbi();
    for (const backend of [coldBackend(), createLinuxBackend({ stateDir: tempDir('as-enf-state-'), broker: true })]) {
      const p = plan({ workspaceRoots: [tempDir('as-enf-')] });
      const proc = await backend.spawn(p, { argv: ['true'], cwd: p.workspaceRoots[0], stdio: 'pipe' });
      proc.stdin?.end();
      assert.equal((await proc.exited).code, 0);
      assert.equal(proc.enforcement.filesystem, 'enforced');
      assert.equal(proc.enforcement.network, 'enforced');
      const notes = proc.enforcement.notes;
      // Lines only the runner writes: the plan-derived preview has none of them.
      for (const own of ['no_new_privs set', 'runner not dumpable', 'descriptors above 2 close-on-exec'])
        assert.ok(notes.includes(own), `${own} missing from:\n${notes.join('\n')}`);
      assert.ok(
        notes.some((n) =>
          abi >= 1 ? n.startsWith(`Landlock ABI ${abi}: writes only beneath`) : n.startsWith('Landlock unavailable'),
        ),
        notes.join('\n'),
      );
      assert.ok(
        notes.some((n) => /^seccomp: deny .*ioctl\(/.test(n)),
        notes.join('\n'),
      ); // the runner's wording
      await backend.dispose();
    }
    // Control: a runner that reports applying only no_new_privs gets no Landlock or seccomp line from the plan.
    const p = plan({ workspaceRoots: [tempDir('as-enf-')] });
    const less = appliedEnforcement(p, { type: 'applied', landlockAbi: 6, notes: ['no_new_privs set'] }).notes;
    assert.ok(less.includes('no_new_privs set'), less.join('\n'));
    assert.ok(!less.some((n) => /^(Landlock|seccomp)/.test(n)), less.join('\n'));
  });
});
