/**
 * Linux backend status and enforcement report on this machine: ready, with the Landlock ABI the kernel offers,
 * and an enforcement report that names what is applied.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { landlockAbi } from '../../../native-bindings/linux/landlock';
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
    assert.ok(offline.notes.some((n) => (abi >= 1 ? n.startsWith(`Landlock ABI ${abi}`) : n.startsWith('Landlock unavailable'))));
    assert.ok(offline.notes.some((n) => n.startsWith('seccomp')));
    const online = backend.enforcement(plan({ workspaceRoots: [tempDir('as-enf-')], network: 'online' }));
    assert.equal(online.network, 'none');
  });
});
