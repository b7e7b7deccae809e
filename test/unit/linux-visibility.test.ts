/**
 * hiddenBy: which plan location hides a path inside the Linux sandbox (the deepest boundary wins: a root bound
 * back inside a hidden folder is visible, a credential folder inside that root is hidden again).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LinuxPlan } from '../../src/policy';
import { hiddenBy } from '../../src/sandbox/linux/visibility';

const plan = {
  writableRoots: ['/xdg/ws'],
  workspaceRoots: ['/xdg/ws', '/home/dev/ro'],
  denyRead: ['/home/dev/.ssh', '/xdg/ws/secrets'],
  hiddenSockets: ['/xdg', '/run/user'],
} as unknown as LinuxPlan;

describe('linux visibility', () => {
  it('a path under a hidden folder is hidden by it', () => {
    assert.equal(hiddenBy(plan, '/xdg/other'), '/xdg');
    assert.equal(hiddenBy(plan, '/xdg'), '/xdg');
    assert.equal(hiddenBy(plan, '/home/dev/.ssh/id'), '/home/dev/.ssh');
  });

  it('a root inside a hidden folder is visible; a credential folder inside that root is hidden again', () => {
    assert.equal(hiddenBy(plan, '/xdg/ws'), undefined);
    assert.equal(hiddenBy(plan, '/xdg/ws/src/a.ts'), undefined);
    assert.equal(hiddenBy(plan, '/xdg/ws/secrets/k'), '/xdg/ws/secrets');
  });

  it('ordinary paths and prefixes that are not parents are visible', () => {
    assert.equal(hiddenBy(plan, '/usr/bin/node'), undefined);
    assert.equal(hiddenBy(plan, '/xdgx/file'), undefined);
    assert.equal(hiddenBy(plan, '/home/dev/ro/x'), undefined);
  });
});
