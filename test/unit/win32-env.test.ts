// Unit: the sandbox's Windows environment: case-insensitive names, scrubbing, private TEMP/TMP, proxy variables
// and the offline stub directory first on PATH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envGet, sandboxEnv } from '../../src/sandbox/windows/win-env';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';

const plan = compilePlan({ workspaceRoots: ['C:\\ws'] }, { platform: 'win32', home: 'C:\\Users\\me',
  userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp', env: { GITHUB_TOKEN: 'x' }, stateDir: 'C:\\state' }) as Win32Plan;

test('envGet ignores case like Windows does', () => {
  assert.equal(envGet({ Path: 'a' }, 'PATH'), 'a');
  assert.equal(envGet({ ComSpec: 'c' }, 'COMSPEC'), 'c');
  assert.equal(envGet({}, 'PATH'), undefined);
});

test('the sandbox env scrubs secrets, sets the private temp once, and puts the stubs first on the one PATH', () => {
  const env = sandboxEnv(plan, { Path: 'C:\\bin', Temp: 'C:\\Users\\me\\AppData\\Local\\Temp', GITHUB_TOKEN: 'secret', HOME: 'h' }, 'C:\\stubs');
  assert.equal(env.GITHUB_TOKEN, undefined);
  assert.equal(Object.keys(env).filter((k) => k.toUpperCase() === 'TEMP').length, 1);
  assert.equal(envGet(env, 'TEMP'), plan.tempDir);
  assert.equal(envGet(env, 'TMP'), plan.tempDir);
  assert.equal(Object.keys(env).filter((k) => k.toUpperCase() === 'PATH').length, 1);
  assert.equal(envGet(env, 'PATH'), 'C:\\stubs;C:\\bin');
  assert.equal(envGet(env, 'https_proxy'), 'http://127.0.0.1:9', 'offline without setup points proxies nowhere');
  assert.equal(env.HOME, 'h');
});
