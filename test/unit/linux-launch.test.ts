import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePlan, type FsView, type LinuxPlan } from '../../src/policy';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandRequest, sealRuntime, withoutVanishedSockets, withRuntimeBinds } from '../../src/sandbox/linux/launch';

const fsView = (dirs: string[]): FsView => ({
  realpath: (p) => p,
  kind: (p) => (dirs.includes(p) ? 'dir' : 'missing'),
});

function plan(ws: string): LinuxPlan {
  return compilePlan(
    { workspaceRoots: [ws] },
    {
      platform: 'linux',
      home: '/home/dev',
      userTemp: '/tmp',
      env: {},
      stateDir: '/var/lib/as',
      fs: fsView([ws]),
    },
  ) as LinuxPlan;
}

test('a runtime under the host /tmp is bound read-only right after the private /tmp, before the roots it contains', () => {
  const p = plan('/tmp/checkout/.e2e/workspace');
  const args = withRuntimeBinds(p.bwrapArgs, p, ['/tmp/checkout', '/usr/bin']);
  const at = (...seq: string[]) => args.findIndex((_, i) => seq.every((s, j) => args[i + j] === s));
  const tmp = at('--bind', p.tempDir, '/tmp');
  const runtime = at('--ro-bind', '/tmp/checkout', '/tmp/checkout');
  const root = at('--bind', '/tmp/checkout/.e2e/workspace', '/tmp/checkout/.e2e/workspace');
  assert.ok(tmp >= 0 && runtime === tmp + 3, 'right after the private /tmp');
  assert.ok(root > runtime, 'the writable root is mounted on top of the read-only runtime folder');
  assert.ok(!args.includes('/usr/bin'), 'a runtime outside /tmp needs no bind');
});

test('a runtime inside a writable root needs no extra bind', () => {
  const p = plan('/tmp/ws');
  assert.deepEqual(withRuntimeBinds(p.bwrapArgs, p, ['/tmp/ws/tools']), p.bwrapArgs);
});

test("Agent Sandbox's own package and runtime inside a writable root are bound read-only after everything else", () => {
  const p = plan('/home/dev/project');
  const args = sealRuntime(p.bwrapArgs, p, ['/home/dev/project/node_modules/agent-sandbox', '/usr/bin']);
  assert.deepEqual(args.slice(-3), [
    '--ro-bind',
    '/home/dev/project/node_modules/agent-sandbox',
    '/home/dev/project/node_modules/agent-sandbox',
  ]);
  assert.ok(args.indexOf('/home/dev/project') < args.length - 3, 'after the writable root, so it wins');
  assert.deepEqual(
    sealRuntime(p.bwrapArgs, p, ['/opt/agent-sandbox', '/usr/bin']),
    p.bwrapArgs,
    'nothing to seal outside the roots',
  );
});

test('a hidden socket or socket-only folder removed since planning loses its hiding mounts; ones still there keep them', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'as-vanish-'));
  try {
    const keptDir = path.join(base, 'kept-dir');
    const goneDir = path.join(base, 'gone-dir');
    const keptSock = path.join(base, 'kept.sock');
    const goneSock = path.join(base, 'gone.sock');
    fs.mkdirSync(keptDir);
    fs.writeFileSync(keptSock, '');
    const p: LinuxPlan = { ...plan('/work/ws'), hiddenSockets: [keptDir, goneDir, keptSock, goneSock] };
    const hiding = [
      ...['--tmpfs', keptDir, '--remount-ro', keptDir],
      ...['--tmpfs', goneDir, '--remount-ro', goneDir],
      ...['--ro-bind', '/dev/null', keptSock],
      ...['--ro-bind', '/dev/null', goneSock],
    ];
    const out = withoutVanishedSockets([...p.bwrapArgs, ...hiding], p);
    assert.deepEqual(out, [
      ...p.bwrapArgs,
      ...['--tmpfs', keptDir, '--remount-ro', keptDir],
      ...['--ro-bind', '/dev/null', keptSock],
    ]);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test("an allowlist command's NODE_OPTIONS keeps the caller's and adds the proxy preload; other commands' are untouched", () => {
  const saved = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = '--max-old-space-size=512';
  try {
    const p = plan('/w');
    const proxied = commandRequest(
      p,
      ['node'],
      '/w',
      undefined,
      { NODE_USE_ENV_PROXY: '1' },
      '/pkg/dist/node-proxy.js',
    );
    assert.equal(proxied.env.NODE_OPTIONS, '--max-old-space-size=512 --require "/pkg/dist/node-proxy.js"');
    assert.equal(commandRequest(p, ['node'], '/w').env.NODE_OPTIONS, '--max-old-space-size=512');
  } finally {
    if (saved === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = saved;
  }
});
