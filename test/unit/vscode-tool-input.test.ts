/** The language-model tool's input: validation, path resolution, and when the user must confirm. */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compilePlan } from '../../src/policy';
import {
  addedWritableRoots,
  confirmationReasons,
  resolveToolInput,
  ungrantedDomains,
  type ToolPolicyView,
} from '../../src/vscode/tool-input';

const view: ToolPolicyView = { platform: 'linux', workspaceRoots: ['/w/a', '/w/b'], network: 'offline' };

test('defaults: cwd is the first workspace folder, network from settings, timeout 300 s', () => {
  assert.deepEqual(resolveToolInput({ command: 'npm test' }, view), {
    command: 'npm test',
    cwd: '/w/a',
    network: 'offline',
    timeoutMs: 300_000,
    writablePaths: [],
    allowDomains: [],
  });
});

test('relative cwd and writable paths resolve inside the first workspace folder', () => {
  const r = resolveToolInput({ command: 'make', cwd: 'sub', writablePaths: ['../cache'], timeout: 5 }, view);
  assert.equal(r.cwd, '/w/a/sub');
  assert.deepEqual(r.writablePaths, ['/w/cache']);
  assert.equal(r.timeoutMs, 5000);
});

test('bad input is refused with a message the model can act on', () => {
  assert.throws(() => resolveToolInput({ command: '' }, view), /command: must not be empty/);
  assert.throws(() => resolveToolInput({ command: 'x', network: 'maybe' }, view), /network/);
  assert.throws(() => resolveToolInput({ command: 'x', extra: 1 }, view), /Invalid input/);
  assert.throws(() => resolveToolInput({ command: 'x' }, { ...view, workspaceRoots: [] }), /No workspace folder/);
});

test('no confirmation for a command within the policy (any workspace folder)', () => {
  assert.deepEqual(confirmationReasons(resolveToolInput({ command: 'ls', cwd: '/w/b/x' }, view), view), []);
});

test('confirmation when network is requested, or cwd/writes leave the workspace', () => {
  const reasons = confirmationReasons(
    resolveToolInput(
      { command: 'npm ci', network: 'online', cwd: '/tmp', writablePaths: ['/w/a/out', '/opt/x'] },
      view,
    ),
    view,
  );
  assert.deepEqual(reasons, [
    'it asks for network access (online: every host)',
    'its working directory /tmp is outside the workspace',
    'it asks to write outside the workspace: /opt/x',
  ]);
  assert.deepEqual(
    confirmationReasons(resolveToolInput({ command: 'x', network: 'online' }, view), { ...view, network: 'online' }),
    [],
  );
});

test('a sibling folder with a common prefix is outside (/w/ab is not inside /w/a)', () => {
  assert.equal(confirmationReasons(resolveToolInput({ command: 'x', cwd: '/w/ab' }, view), view).length, 1);
});

test(
  'a writable path inside the workspace by name but a link to outside it needs confirmation (judged on the compiled roots)',
  { skip: process.platform !== 'linux' && 'uses POSIX links' },
  () => {
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'as-tool-ws-')));
    const target = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'as-tool-target-')));
    try {
      fs.symlinkSync(target, path.join(ws, 'out'));
      fs.mkdirSync(path.join(ws, 'build'));
      const ctx = {
        platform: 'linux' as const,
        home: os.homedir(),
        userTemp: '/nonexistent-user-temp',
        env: {},
        stateDir: '/var/tmp/as-tool-state',
        fs: {
          realpath: (p: string) => {
            try {
              return fs.realpathSync(p);
            } catch {
              return undefined;
            }
          },
          kind: (p: string) =>
            fs.existsSync(p)
              ? fs.statSync(p).isDirectory()
                ? ('dir' as const)
                : ('file' as const)
              : ('missing' as const),
        },
      };
      const configured = compilePlan({ workspaceRoots: [ws] }, ctx);
      const lview: ToolPolicyView = {
        platform: 'linux',
        workspaceRoots: configured.workspaceRoots,
        network: 'offline',
      };
      const ask = (paths: string[]) => {
        const req = resolveToolInput({ command: 'make', writablePaths: paths }, lview);
        const requested = compilePlan({ workspaceRoots: [ws], writableRoots: req.writablePaths }, ctx);
        return confirmationReasons(req, lview, addedWritableRoots(requested, configured, lview));
      };
      assert.deepEqual(
        confirmationReasons(resolveToolInput({ command: 'make', writablePaths: ['out'] }, lview), lview),
        [],
        'by name alone it looks inside',
      );
      assert.deepEqual(ask(['out']), [`it asks to write outside the workspace: ${target}`]);
      assert.deepEqual(ask(['build']), [], 'a real folder inside needs no confirmation');
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
      fs.rmSync(target, { recursive: true, force: true });
    }
  },
);

test('allowDomains: implies allowlist from offline (confirmed), hosts outside the allowlist need confirmation, presets count as their hosts', () => {
  const r = resolveToolInput({ command: 'npm ci', allowDomains: ['@npm'] }, view);
  assert.equal(r.network, 'allowlist');
  assert.deepEqual(confirmationReasons(r, view), [
    'it asks for network access (allowlist: only the hosts named)',
    'it asks to reach hosts outside the allowlist: @npm',
  ]);
  const allow: ToolPolicyView = {
    ...view,
    network: 'allowlist',
    allowedDomains: ['registry.npmjs.org', 'registry.yarnpkg.com', 'registry.npmjs.com'],
  };
  assert.deepEqual(
    confirmationReasons(resolveToolInput({ command: 'npm ci', allowDomains: ['@npm'] }, allow), allow),
    [],
  );
  assert.deepEqual(
    confirmationReasons(
      resolveToolInput({ command: 'x', allowDomains: ['registry.npmjs.org', 'evil.org'] }, allow),
      allow,
    ),
    ['it asks to reach hosts outside the allowlist: evil.org'],
  );
  assert.deepEqual(ungrantedDomains(['A.org'], ['a.org']), []);
});

test('a tool input can never turn the allowlist into online without confirmation; bad hosts are refused', () => {
  const allow: ToolPolicyView = { ...view, network: 'allowlist', allowedDomains: ['a.org'] };
  assert.deepEqual(confirmationReasons(resolveToolInput({ command: 'x', network: 'online' }, allow), allow), [
    'it asks for network access (online: every host)',
  ]);
  assert.throws(
    () => resolveToolInput({ command: 'x', allowDomains: ['https://a.org/'] }, allow),
    /allowDomains: "https:\/\/a\.org\/" is a URL/,
  );
  assert.throws(
    () => resolveToolInput({ command: 'x', network: 'online', allowDomains: ['a.org'] }, allow),
    /allowDomains needs network "allowlist"/,
  );
});
