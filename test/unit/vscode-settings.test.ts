/**
 * Settings → policy: validation errors name the setting; untrusted workspaces can only narrow; and the
 * package.json settings match the policy schema (keys, defaults) so the Settings UI tells the truth.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  DEFAULT_DENY_READ,
  DEFAULT_ENV_ALLOW,
  DEFAULT_ENV_SCRUB,
  DEFAULT_PROTECTED_PATHS,
  SETTING_FOR_FIELD,
} from '../../src/policy';
import {
  effectiveSettings,
  ignoredWideningSettings,
  SETTING_KEYS,
  validateSettings,
  type InspectedValue,
} from '../../src/vscode/settings-policy';

const inspector = (values: Record<string, InspectedValue>) => (key: string) => values[key];

test('valid settings become policy input with the workspace folders', () => {
  const r = validateSettings({ network: 'online', extraWritableRoots: ['/opt/cache'] }, ['/w']);
  assert.ok(r.ok);
  assert.deepEqual(r.policy, { workspaceRoots: ['/w'], network: 'online', writableRoots: ['/opt/cache'] });
});

test('an invalid enum names the setting, the value and the choices', () => {
  const r = validateSettings({ network: 'sometimes' }, ['/w']);
  assert.ok(!r.ok);
  assert.deepEqual(r.errors, [
    'agentSandbox.network (got "sometimes"): must be one of "offline", "allowlist", "online".',
  ]);
});

test('nested and item errors name the dotted setting and the item', () => {
  const r = validateSettings({ envScrub: ['ok', ''], protectedPaths: ['/abs/**'] }, ['/w']);
  assert.ok(!r.ok);
  const all = r.errors.join('\n');
  assert.match(all, /agentSandbox\.env\.scrub item 1 \(got ""\)/);
  assert.match(all, /agentSandbox\.protectedPaths item 0 \(got "\/abs\/\*\*"\): "\/abs\/\*\*" is absolute/);
});

test('full-access without allowFullAccess is refused, naming agentSandbox.mode', () => {
  const r = validateSettings({ mode: 'full-access' }, ['/w']);
  assert.ok(!r.ok);
  assert.match(r.errors[0], /^agentSandbox\.mode .*allowFullAccess/);
});

test('workspace and folder values only narrow, trusted or not: the strictest of user, workspace and folder wins', () => {
  const s = effectiveSettings(
    inspector({
      network: { defaultValue: 'offline', globalValue: 'offline', workspaceValue: 'online' },
      mode: { defaultValue: 'workspace-write', workspaceValue: 'read-only', workspaceFolderValue: 'workspace-write' },
      protectedPreset: { defaultValue: 'default', workspaceFolderValue: 'strict' },
      protectedPaths: { defaultValue: ['.git/hooks/**'], workspaceValue: ['a/**'], workspaceFolderValue: ['b/**'] },
    }),
  );
  assert.equal(s.network, 'offline', 'a workspace cannot turn the network on');
  assert.equal(s.mode, 'read-only', "a folder value cannot undo the workspace's narrowing");
  assert.equal(s.protectedPreset, 'strict');
  assert.deepEqual(s.protectedPaths, ['.git/hooks/**', 'a/**', 'b/**']);
  // control: the user's own settings may widen
  assert.equal(
    effectiveSettings(inspector({ network: { defaultValue: 'offline', globalValue: 'online' } })).network,
    'online',
  );
});

test('workspace values cannot widen network, mode, writable roots, env or full access', () => {
  const values = {
    network: { defaultValue: 'offline', workspaceValue: 'online' },
    mode: { defaultValue: 'workspace-write', workspaceValue: 'full-access' },
    extraWritableRoots: { defaultValue: [], globalValue: ['/u'], workspaceValue: ['/'] },
    'env.allow': { defaultValue: [], workspaceValue: ['GITHUB_TOKEN'] },
    'env.set': { defaultValue: {}, workspaceValue: { LD_PRELOAD: '/x.so' } },
    allowFullAccess: { defaultValue: false, workspaceValue: true },
    protectedPaths: { defaultValue: ['.git/hooks/**'], workspaceValue: [] },
  };
  const s = effectiveSettings(inspector(values));
  assert.equal(s.network, 'offline');
  assert.equal(s.mode, 'workspace-write');
  assert.deepEqual(s.extraWritableRoots, ['/u']);
  assert.deepEqual(s.envAllow, []);
  assert.deepEqual(s.envSet, {});
  assert.equal(s.allowFullAccess, false);
  assert.deepEqual(s.protectedPaths, ['.git/hooks/**'], 'an empty workspace list cannot remove protections');
  assert.deepEqual(ignoredWideningSettings(inspector(values)).sort(), [
    'agentSandbox.allowFullAccess',
    'agentSandbox.env.allow',
    'agentSandbox.env.set',
    'agentSandbox.extraWritableRoots',
    'agentSandbox.mode',
    'agentSandbox.network',
    'agentSandbox.protectedPaths',
  ]);
});

test('workspace values may narrow (stricter mode/network, more protected, hidden or scrubbed)', () => {
  const s = effectiveSettings(
    inspector({
      network: { defaultValue: 'offline', globalValue: 'online', workspaceValue: 'offline' },
      mode: { defaultValue: 'workspace-write', workspaceValue: 'read-only' },
      protectedPaths: { defaultValue: ['.git/hooks/**'], workspaceValue: ['secrets/**'] },
      denyRead: { defaultValue: ['~/.ssh'], workspaceValue: ['~/.npmrc'] },
      'env.scrub': { defaultValue: ['*_TOKEN'], workspaceValue: ['MY_VAR'] },
    }),
  );
  assert.equal(s.network, 'offline');
  assert.equal(s.mode, 'read-only');
  assert.deepEqual(s.protectedPaths, ['.git/hooks/**', 'secrets/**']);
  assert.deepEqual(s.denyRead, ['~/.ssh', '~/.npmrc']);
  assert.deepEqual(s.envScrub, ['*_TOKEN', 'MY_VAR']);
});

test('an invalid workspace value is passed on to validation (named, nothing runs), never treated as wider', () => {
  const s = effectiveSettings(inspector({ network: { defaultValue: 'offline', workspaceValue: 'sometimes' } }));
  assert.equal(s.network, 'sometimes');
  const r = validateSettings(s, ['/w']);
  assert.ok(!r.ok && r.errors[0].startsWith('agentSandbox.network'));
  assert.equal(
    effectiveSettings(inspector({ protectedPaths: { defaultValue: ['a'], workspaceValue: 'x' } })).protectedPaths,
    'x',
  );
});

interface ConfigProp {
  default: unknown;
  markdownDescription?: string;
  type?: string;
}
const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, ConfigProp> } };
};
const props = pkg.contributes.configuration.properties;

test('package.json contributes exactly the settings SETTING_FOR_FIELD names, each typed and documented', () => {
  const expected = new Set(Object.values(SETTING_FOR_FIELD));
  assert.deepEqual(new Set(Object.keys(props)), expected);
  assert.deepEqual(new Set(Object.values(SETTING_KEYS).map((k) => `agentSandbox.${k}`)), expected);
  for (const [k, p] of Object.entries(props)) {
    assert.ok(p.type, `${k} has a type`);
    assert.ok(p.markdownDescription && p.markdownDescription.length > 20, `${k} has a markdownDescription`);
    assert.ok('default' in p, `${k} has a default`);
  }
});

test('setting descriptions say workspace values only narrow (or are ignored) for every widening setting', () => {
  for (const k of [
    'protectedPaths',
    'denyRead',
    'network',
    'extraWritableRoots',
    'env.scrub',
    'env.allow',
    'env.set',
    'mode',
  ]) {
    assert.match(
      props[`agentSandbox.${k}`].markdownDescription ?? '',
      /only narrow|never remove|user settings only/,
      k,
    );
  }
});

test('package.json defaults equal the policy schema defaults', () => {
  assert.deepEqual(props['agentSandbox.env.allow'].default, [...DEFAULT_ENV_ALLOW]);
  assert.deepEqual(props['agentSandbox.protectedPaths'].default, [...DEFAULT_PROTECTED_PATHS]);
  assert.deepEqual(props['agentSandbox.denyRead'].default, [...DEFAULT_DENY_READ]);
  assert.deepEqual(props['agentSandbox.env.scrub'].default, [...DEFAULT_ENV_SCRUB]);
  assert.equal(props['agentSandbox.network'].default, 'offline');
  assert.equal(props['agentSandbox.mode'].default, 'workspace-write');
  assert.equal(props['agentSandbox.allowFullAccess'].default, false);
  const defaults = Object.fromEntries(
    Object.entries(SETTING_KEYS).map(([k, s]) => [k, props[`agentSandbox.${s}`].default]),
  );
  assert.ok(validateSettings(defaults, ['/w']).ok, 'the defaults validate');
});
