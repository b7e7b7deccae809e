import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { restoreCallerEnv, SAVED_CA_VAR } from '../../src/cli/caller-env';

describe('the launcher puts back what the fast launcher moved aside', () => {
  it('restores NODE_EXTRA_CA_CERTS the launcher emptied and removes its own variable', () => {
    const env: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '', [SAVED_CA_VAR]: '/etc/ca.pem', PATH: '/bin' };
    restoreCallerEnv(env);
    assert.deepEqual(env, { NODE_EXTRA_CA_CERTS: '/etc/ca.pem', PATH: '/bin' });
  });
  it('leaves a value the caller set some other way, and an environment the launcher did not touch', () => {
    const env: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '/mine.pem', [SAVED_CA_VAR]: '/other.pem' };
    restoreCallerEnv(env);
    assert.deepEqual(env, { NODE_EXTRA_CA_CERTS: '/mine.pem' });
    const marked: NodeJS.ProcessEnv = { AGENT_SANDBOX_CALLER_LC_CTYPE: '-', PATH: '/bin' };
    restoreCallerEnv(marked);
    assert.deepEqual(marked, { PATH: '/bin' }, "the launcher's LC_CTYPE record never reaches the command");
    const untouched: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '' };
    restoreCallerEnv(untouched);
    assert.deepEqual(untouched, { NODE_EXTRA_CA_CERTS: '' });
  });
});
