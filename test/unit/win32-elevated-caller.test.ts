import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refuseElevatedCaller } from '../../src/sandbox/windows/elevated-caller';
import { SandboxError } from '../../src/errors';

test('an elevated (full) token refuses the unelevated sandbox with the fix; limited and default tokens pass', () => {
  assert.throws(
    () => refuseElevatedCaller(2, false),
    (e: unknown) => e instanceof SandboxError && /as administrator/.test(e.message) && /normally/.test(e.fix),
  );
  assert.doesNotThrow(() => refuseElevatedCaller(3, false));
  assert.doesNotThrow(() => refuseElevatedCaller(1, false));
});

test('under Wine (whose only user is an elevated administrator) it is not refused: nothing is enforced there anyway', () => {
  assert.doesNotThrow(() => refuseElevatedCaller(2, true));
});
