import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';
import { sealOwnFiles } from '../../src/sandbox/windows/own-files';

const plan = compilePlan(
  { workspaceRoots: ['C:\\ws'] },
  {
    platform: 'win32',
    home: 'C:\\Users\\me',
    userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
    env: {},
    stateDir: 'C:\\state',
  },
) as Win32Plan;

test('Agent Sandbox installed inside a writable root: its bundle, koffi and runtime folders get the write deny for the capability', () => {
  const sealed = sealOwnFiles(plan, [
    'C:\\ws\\node_modules\\agent-sandbox\\dist',
    'C:\\ws\\node_modules\\koffi',
    'C:\\Program Files\\nodejs',
  ]);
  const added = sealed.acl.slice(plan.acl.length);
  assert.deepEqual(
    added.map((o) => [o.path, o.action, o.sid.kind, o.reason]),
    [
      ['C:\\ws\\node_modules\\agent-sandbox\\dist', 'deny', 'capability', 'protected-path'],
      ['C:\\ws\\node_modules\\koffi', 'deny', 'capability', 'protected-path'],
    ],
  );
  assert.ok(
    added.every((o) => (o.mask.value & 0x10000) !== 0),
    'DELETE is denied too',
  );
});

test('control: installed outside every writable root, the plan is unchanged (the same object)', () => {
  assert.equal(sealOwnFiles(plan, ['C:\\Program Files\\Agent Sandbox\\dist']), plan);
});
