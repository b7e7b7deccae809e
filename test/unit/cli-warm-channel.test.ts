// The warm path's shared pieces: which `run` calls may go warm, the key that finds a broker, the broker folder
// checks, and the frame format. Pure or on temp folders; no sandbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { brokerDir, frame, FrameReader, inputKey, unsafeDir, warmCall } from '../../src/protocol/warm';

const noTty = () => false;
const linuxOnly = process.platform !== 'linux' && 'the warm path is Linux-only';

test(
  'warmCall: policy options are kept in order, --timeout and --platform linux are understood',
  { skip: linuxOnly },
  () => {
    const call = warmCall(
      [
        'run',
        '--network=online',
        '--workspace',
        '/w',
        '--read-only',
        '--strict',
        '--timeout',
        '2.5',
        '--platform',
        'linux',
        '--',
        'sh',
        '-c',
        'x',
      ],
      {},
      noTty,
    );
    assert.deepEqual(call, {
      policyArgs: ['--network', 'online', '--workspace', '/w', '--read-only', '--strict'],
      timeoutMs: 2500,
      command: ['sh', '-c', 'x'],
    });
  },
);

test('warmCall: everything the warm path cannot honour goes cold', { skip: linuxOnly }, () => {
  const cold = (argv: string[], env: NodeJS.ProcessEnv = {}, tty: (fd: number) => boolean = noTty) =>
    assert.equal(warmCall(argv, env, tty), undefined, argv.join(' '));
  cold(['plan', '--', 'true']);
  cold(['run', 'true']);
  cold(['run', '--']);
  cold(['run', '--tty', '--', 'bash']);
  cold(['run', '--no-broker', '--', 'true']);
  cold(['run', '--help', '--', 'true']);
  cold(['run', '--platform', 'win32', '--', 'true']);
  cold(['run', '--timeout', '0', '--', 'true']);
  cold(['run', '--timeout', 'abc', '--', 'true']);
  cold(['run', '--workspace', '--', 'true']);
  cold(['run', '--bogus', '--', 'true']);
  cold(['run', '--strict=yes', '--', 'true']);
  cold(['run', '--', 'true'], { AGENT_SANDBOX_BROKER: '0' });
  cold(['run', '--', 'true'], {}, (fd) => fd === 1);
  // control: the plain call goes warm
  assert.ok(warmCall(['run', '--', 'true'], {}, noTty));
});

test('inputKey: changes with the policy, folder, plan environment, policy file and bundle; not with other variables', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-key-'));
  try {
    const bundle = path.join(dir, 'bundle.js');
    const policy = path.join(dir, 'policy.json');
    fs.writeFileSync(bundle, 'a');
    fs.writeFileSync(policy, '{}');
    const env = { HOME: '/home/u', PATH: '/bin' };
    const base = inputKey([], '/w', env, bundle);
    assert.equal(inputKey([], '/w', { ...env, OTHER: 'x' }, bundle), base, 'unrelated variables do not matter');
    assert.notEqual(inputKey(['--network', 'online'], '/w', env, bundle), base);
    assert.notEqual(inputKey([], '/w2', env, bundle), base);
    assert.notEqual(inputKey([], '/w', { ...env, HOME: '/home/v' }, bundle), base);
    assert.notEqual(inputKey([], '/w', { ...env, AGENT_SANDBOX_STATE_DIR: '/s' }, bundle), base);
    assert.notEqual(inputKey(['--strict'], '/w', env, bundle), base);
    // the git surface (which the plan protects) is found through these
    assert.notEqual(inputKey([], '/w', { ...env, XDG_CONFIG_HOME: '/c' }, bundle), base);
    assert.notEqual(inputKey([], '/w', { ...env, GIT_CONFIG_GLOBAL: '/g' }, bundle), base);
    const withFile = inputKey(['--policy-file', policy], '/w', env, bundle);
    fs.writeFileSync(policy, '{"mode":"read-only"}');
    assert.notEqual(inputKey(['--policy-file', policy], '/w', env, bundle), withFile, 'an edited policy file');
    fs.writeFileSync(bundle, 'bb');
    assert.notEqual(inputKey([], '/w', env, bundle), base, 'a rebuilt bundle');
    // An absolute --workspace makes the calling folder irrelevant; a relative one does not.
    assert.equal(
      inputKey(['--workspace', '/w'], '/a', env, bundle),
      inputKey(['--workspace', '/w'], '/b', env, bundle),
    );
    assert.notEqual(
      inputKey(['--workspace', 'w'], '/a', env, bundle),
      inputKey(['--workspace', 'w'], '/b', env, bundle),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'unsafeDir: only a real folder of ours that nobody else can open',
  { skip: process.platform === 'win32' && 'POSIX modes' },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-bdir-'));
    try {
      const d = path.join(dir, 'b');
      assert.equal(unsafeDir(d), 'missing');
      fs.mkdirSync(d, { mode: 0o700 });
      fs.chmodSync(d, 0o700);
      assert.equal(unsafeDir(d), undefined);
      fs.chmodSync(d, 0o750);
      assert.match(unsafeDir(d) ?? '', /can be opened by other users \(mode 750\)/);
      fs.chmodSync(d, 0o700);
      const link = path.join(dir, 'link');
      fs.symlinkSync(d, link);
      assert.match(unsafeDir(link) ?? '', /not a folder/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('frames survive any chunking', () => {
  const wire = Buffer.concat([
    frame('H', '{"a":1}'),
    frame('I', Buffer.from([0, 1, 2, 255])),
    frame('E'),
    frame('O', 'x'.repeat(70_000)),
  ]);
  for (const size of [1, 3, 5, 7, 4096, wire.length]) {
    const got: [string, string][] = [];
    const r = new FrameReader((t, p) => got.push([t, p.toString('hex').slice(0, 16)]));
    for (let i = 0; i < wire.length; i += size) r.push(wire.subarray(i, i + size));
    assert.deepEqual(
      got.map((g) => g[0]),
      ['H', 'I', 'E', 'O'],
      `chunks of ${size}`,
    );
    assert.equal(got[1][1], '000102ff');
  }
});

test('warmCall and brokerDir on Windows: the same calls go warm, --platform must be win32; brokers are under LOCALAPPDATA', () => {
  const call = warmCall(
    ['run', '--platform', 'win32', '--timeout', '2', '--', 'cmd', '/c', 'echo'],
    {},
    noTty,
    'win32',
  );
  assert.deepEqual(call, { policyArgs: [], timeoutMs: 2000, command: ['cmd', '/c', 'echo'] });
  assert.equal(warmCall(['run', '--platform', 'linux', '--', 'cmd'], {}, noTty, 'win32'), undefined);
  assert.equal(warmCall(['run', '--', 'cmd'], { AGENT_SANDBOX_BROKER: '0' }, noTty, 'win32'), undefined);
  assert.equal(warmCall(['run', '--', 'cmd'], {}, noTty, 'darwin'), undefined, 'no warm path elsewhere');
  assert.equal(
    brokerDir('win32', { LOCALAPPDATA: 'C:\\Users\\dev\\AppData\\Local' }),
    'C:\\Users\\dev\\AppData\\Local\\agent-sandbox\\brokers',
  );
  assert.equal(
    brokerDir('win32', { USERPROFILE: 'C:\\Users\\dev' }),
    'C:\\Users\\dev\\AppData\\Local\\agent-sandbox\\brokers',
  );
});
