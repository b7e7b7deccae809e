import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_DENY_READ,
  DEFAULT_PROTECTED_PATHS,
  parsePolicy,
  policyFromCli,
  policyFromSettings,
} from '../../src/policy';
import { SandboxError } from '../../src/errors';

function invalid(input: unknown): SandboxError {
  try {
    parsePolicy(input);
  } catch (e) {
    assert.ok(e instanceof SandboxError);
    assert.equal(e.code, 'invalid-policy');
    return e;
  }
  assert.fail('expected the policy to be refused');
}

test('defaults: workspace-write, offline, default protected paths and credential locations', () => {
  const p = parsePolicy({});
  assert.equal(p.mode, 'workspace-write');
  assert.equal(p.network, 'offline');
  assert.deepEqual(p.protectedPaths, [...DEFAULT_PROTECTED_PATHS]);
  for (const g of ['.git/hooks/**', '.git/config', '.vscode/**']) assert.ok(p.protectedPaths.includes(g));
  for (const d of [
    '~/.ssh',
    '~/.aws',
    '~/.azure',
    '~/.config/gcloud',
    '~/.kube',
    '~/.docker',
    '~/.gnupg',
    '~/.netrc',
    '~/.git-credentials',
    '~/.config/gh',
  ])
    assert.ok(p.denyRead.includes(d), d);
  assert.ok(
    DEFAULT_DENY_READ.some((d) => d.startsWith('%APPDATA%')),
    'has Windows equivalents',
  );
  assert.ok(p.env.scrub.includes('*TOKEN*'));
  assert.deepEqual(p.env.allow, ['XDG_SESSION_*']);
  for (const g of ['.envrc', '.env']) assert.ok(p.protectedPaths.includes(g), g);
  assert.equal(p.protectedPreset, 'default');
  assert.equal(p.allowFullAccess, false);
});

test('an unknown mode names the field, the value and the allowed values', () => {
  const e = invalid({ mode: 'yolo' });
  assert.match(e.message, /mode/);
  assert.match(e.message, /"yolo"/);
  assert.match(e.message, /"read-only", "workspace-write", "full-access"/);
  assert.match(e.fix, /setting/i);
});

test('an unknown network value is refused with the choices', () => {
  const e = invalid({ network: 'sometimes' });
  assert.match(e.message, /network \(got "sometimes"\): must be one of "offline", "allowlist", "online"/);
});

test('full-access is refused unless allowFullAccess is set', () => {
  const e = invalid({ mode: 'full-access' });
  assert.match(e.message, /allowFullAccess/);
  assert.equal(parsePolicy({ mode: 'full-access', allowFullAccess: true }).mode, 'full-access');
});

test('unknown keys are refused by name', () => {
  const e = invalid({ writeableRoots: ['/x'] });
  assert.match(e.message, /unknown setting "writeableRoots"/);
});

test('wrong types name the nested field', () => {
  const e = invalid({ env: { scrub: 'AWS_*' } });
  assert.match(e.message, /env\.scrub \(got "AWS_\*"\)/);
  const e2 = invalid({ writableRoots: [''] });
  assert.match(e2.message, /writableRoots\.0/);
});

test('protected globs must be enforceable without walking the tree', () => {
  assert.match(invalid({ protectedPaths: ['**/.env'] }).message, /protectedPaths\.0.*wildcards/s);
  assert.match(invalid({ protectedPaths: ['/etc/passwd'] }).message, /absolute/);
  assert.match(invalid({ protectedPaths: ['../outside/**'] }).message, /climbs out/);
  assert.match(invalid({ protectedPaths: ['**'] }).message, /whole root/);
  assert.deepEqual(parsePolicy({ protectedPaths: ['secrets/**', 'deploy.key'] }).protectedPaths, [
    'secrets/**',
    'deploy.key',
  ]);
});

test('CLI flags build a policy: default workspace is the cwd, --protect adds to the defaults', () => {
  const p = parsePolicy(
    policyFromCli(
      { workspace: [], write: ['/data/x'], readOnly: true, network: 'online', protect: ['secrets/**'] },
      '/home/dev/repo',
    ),
  );
  assert.deepEqual(p.workspaceRoots, ['/home/dev/repo']);
  assert.deepEqual(p.writableRoots, ['/data/x']);
  assert.equal(p.mode, 'read-only');
  assert.equal(p.network, 'online');
  assert.deepEqual(p.protectedPaths, [...DEFAULT_PROTECTED_PATHS, 'secrets/**']);
  assert.equal(p.protectedPreset, 'default');
  const strict = parsePolicy(
    policyFromCli({ workspace: [], write: [], readOnly: false, protect: [], strict: true }, '/r'),
  );
  assert.equal(strict.protectedPreset, 'strict', '--strict selects the stricter preset');
});

test('settings carry the open workspace file and the preset into the policy', () => {
  const p = parsePolicy(policyFromSettings({ protectedPreset: 'strict' }, ['/r'], '/r/app.code-workspace'));
  assert.equal(p.workspaceFile, '/r/app.code-workspace');
  assert.equal(p.protectedPreset, 'strict');
});

test('settings plus workspace folders build the same policy shape', () => {
  const p = parsePolicy(
    policyFromSettings(
      { mode: 'workspace-write', extraWritableRoots: ['/cache'], network: 'online', envAllow: ['NPM_TOKEN'] },
      ['/home/dev/a', '/home/dev/b'],
    ),
  );
  assert.deepEqual(p.workspaceRoots, ['/home/dev/a', '/home/dev/b']);
  assert.deepEqual(p.writableRoots, ['/cache']);
  assert.deepEqual(p.env.allow, ['NPM_TOKEN']);
  assert.ok(p.env.scrub.length > 0, 'scrub keeps its default when only allow is set');
});
