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

  it('a spawned command carries what its runner reported applying, cold and brokered (the parent does not re-probe)', async () => {
    const abi = landlockAbi();
    for (const backend of [coldBackend(), createLinuxBackend({ stateDir: tempDir('as-enf-state-'), broker: true })]) {
      const p = plan({ workspaceRoots: [tempDir('as-enf-')] });
      const proc = await backend.spawn(p, { argv: ['true'], cwd: p.workspaceRoots[0], stdio: 'pipe' });
      proc.stdin?.end();
      assert.equal((await proc.exited).code, 0);
      assert.equal(proc.enforcement.filesystem, 'enforced');
      assert.equal(proc.enforcement.network, 'enforced');
      assert.ok(
        proc.enforcement.notes.some((n) =>
          abi >= 1 ? n.startsWith(`Landlock ABI ${abi}`) : n.startsWith('Landlock unavailable'),
        ),
        proc.enforcement.notes.join('\n'),
      );
      await backend.dispose();
    }
    // Control: the report follows the runner's ABI, not this machine's, so a runner without Landlock reads as such.
    const p = plan({ workspaceRoots: [tempDir('as-enf-')] });
    assert.ok(
      appliedEnforcement(p, { type: 'applied', landlockAbi: 0, notes: [] }).notes.includes(
        'Landlock unavailable: bubblewrap only',
      ),
    );
  });
});
