// Unit: the sandbox's Windows environment: case-insensitive names, scrubbing, private TEMP/TMP, proxy variables
// and the offline stub directory first on PATH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envGet, gitConfigEnv, sandboxEnv } from '../../src/sandbox/windows/win-env';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';

const plan = compilePlan(
  { workspaceRoots: ['C:\\ws'] },
  {
    platform: 'win32',
    home: 'C:\\Users\\me',
    userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
    env: { GITHUB_TOKEN: 'x' },
    stateDir: 'C:\\state',
  },
) as Win32Plan;

test('envGet ignores case like Windows does', () => {
  assert.equal(envGet({ Path: 'a' }, 'PATH'), 'a');
  assert.equal(envGet({ ComSpec: 'c' }, 'COMSPEC'), 'c');
  assert.equal(envGet({}, 'PATH'), undefined);
});

test('the sandbox env scrubs secrets, sets the private temp once, and puts the stubs first on the one PATH', () => {
  const env = sandboxEnv(
    plan,
    { Path: 'C:\\bin', Temp: 'C:\\Users\\me\\AppData\\Local\\Temp', GITHUB_TOKEN: 'secret', HOME: 'h' },
    'C:\\stubs',
  );
  assert.equal(env.GITHUB_TOKEN, undefined);
  assert.equal(Object.keys(env).filter((k) => k.toUpperCase() === 'TEMP').length, 1);
  assert.equal(envGet(env, 'TEMP'), plan.tempDir);
  assert.equal(envGet(env, 'TMP'), plan.tempDir);
  assert.equal(Object.keys(env).filter((k) => k.toUpperCase() === 'PATH').length, 1);
  assert.equal(envGet(env, 'PATH'), 'C:\\stubs;C:\\bin');
  assert.equal(envGet(env, 'https_proxy'), 'http://127.0.0.1:9', 'offline without setup points proxies nowhere');
  assert.equal(env.HOME, 'h');
});

test('git settings go through GIT_CONFIG_* (command scope): safe.directory per root in elevated mode, forward slashes', () => {
  const plan = { windowsMode: 'elevated', workspaceRoots: ['C:\\Users\\dev\\repo', 'D:\\w'] } as unknown as Win32Plan;
  assert.deepEqual(gitConfigEnv(plan, {}), {
    GIT_CONFIG_COUNT: '3',
    GIT_CONFIG_KEY_0: 'http.sslBackend',
    GIT_CONFIG_VALUE_0: 'openssl',
    GIT_CONFIG_KEY_1: 'safe.directory',
    GIT_CONFIG_VALUE_1: 'C:/Users/dev/repo',
    GIT_CONFIG_KEY_2: 'safe.directory',
    GIT_CONFIG_VALUE_2: 'D:/w',
  });
});

test("git settings are appended after the caller's own GIT_CONFIG_* entries, never replacing them", () => {
  const plan = { windowsMode: 'elevated', workspaceRoots: ['C:\\r'] } as unknown as Win32Plan;
  const env = gitConfigEnv(plan, { git_config_count: '2', GIT_CONFIG_KEY_0: 'a.b', GIT_CONFIG_VALUE_0: '1' });
  assert.equal(env.GIT_CONFIG_COUNT, '4');
  assert.equal(env.GIT_CONFIG_KEY_2, 'http.sslBackend');
  assert.equal(env.GIT_CONFIG_VALUE_3, 'C:/r');
  assert.equal(env.GIT_CONFIG_KEY_0, undefined);
});

test('unelevated: no safe.directory (the developer owns the repository and runs the command)', () => {
  const plan = { windowsMode: 'unelevated', workspaceRoots: ['C:\\r'] } as unknown as Win32Plan;
  assert.deepEqual(
    Object.values(gitConfigEnv(plan, {})).filter((v) => v === 'safe.directory'),
    [],
  );
});

test('the environment block is sorted ordinally on upper case, not by locale (`_` after letters, as Windows expects)', async () => {
  const { environmentBlock } = await import('../../native-bindings/win32/process');
  const names = environmentBlock({ _Z: '1', Path: '2', a1: '3', A_: '4', B: '5' })
    .toString('utf16le')
    .split('\0')
    .filter(Boolean)
    .map((e) => e.split('=')[0]);
  assert.deepEqual(names, ['a1', 'A_', 'B', 'Path', '_Z']);
});
