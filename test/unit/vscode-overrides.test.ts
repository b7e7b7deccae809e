// Unit: a per-run mode override can narrow but never switch to full-access, whatever a tasks.json or caller says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkedModeOverride } from '../../src/vscode/overrides';
import { SandboxError, SandboxErrorCode } from '../../src/errors';

test('mode overrides: read-only and workspace-write pass; full-access and anything else are refused', () => {
  assert.equal(checkedModeOverride(undefined), undefined);
  assert.equal(checkedModeOverride('read-only'), 'read-only');
  assert.equal(checkedModeOverride('workspace-write'), 'workspace-write');
  for (const bad of ['full-access', 'FULL-ACCESS', 42, null]) {
    assert.throws(
      () => checkedModeOverride(bad),
      (e: unknown) => e instanceof SandboxError && e.code === SandboxErrorCode.InvalidPolicy,
    );
  }
});
