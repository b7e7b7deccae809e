// Unit: when a run must say that less is enforced than the policy asks (every surface shows these on every run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { weakerThanAsked } from '../../src/sandbox/weaker';

test('weaker enforcement: advisory network or a filesystem not fully enforced brings the plan warnings and notes; full enforcement none', () => {
  assert.deepEqual(
    weakerThanAsked({ filesystem: 'enforced', network: 'enforced', notes: ['Landlock ABI 7'] }, ['w']),
    [],
  );
  assert.deepEqual(
    weakerThanAsked({ filesystem: 'enforced', network: 'none', notes: ['online'] }, []),
    [],
    'online asks for no block',
  );
  assert.deepEqual(
    weakerThanAsked({ filesystem: 'enforced', network: 'advisory', notes: ['proxy only'] }, ['offline is advisory']),
    ['offline is advisory', 'proxy only'],
  );
  assert.deepEqual(weakerThanAsked({ filesystem: 'none', network: 'none', notes: ['Wine'] }, []), ['Wine']);
});
