import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWithin, normalizeAbsolute } from '../../src/policy';
import { canonicalize, refuseBroadRoot, type FsView, type PathContext } from '../../src/policy/paths';
import { SandboxError } from '../../src/errors';

const win: PathContext = {
  platform: 'win32',
  home: 'C:\\Users\\dev',
  userTemp: 'C:\\Users\\dev\\AppData\\Local\\Temp',
};
const lin: PathContext = { platform: 'linux', home: '/home/dev', userTemp: '/tmp' };

function refusedCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SandboxError, String(e));
    return e.code;
  }
  assert.fail('expected a refusal');
}

const winCases: [string, string][] = [
  ['C:\\Users\\dev\\repo', 'C:\\Users\\dev\\repo'],
  ['c:\\users\\dev\\repo', 'C:\\users\\dev\\repo'],
  ['C:/Users/dev/repo/', 'C:\\Users\\dev\\repo'],
  ['C:\\Users\\dev\\repo\\..\\other', 'C:\\Users\\dev\\other'],
  ['C:\\Users\\dev\\.\\repo', 'C:\\Users\\dev\\repo'],
  ['\\\\?\\C:\\Users\\dev\\repo', 'C:\\Users\\dev\\repo'],
  ['\\\\.\\C:\\Users\\dev\\repo', 'C:\\Users\\dev\\repo'],
  ['C:\\Users\\dev\\repo.', 'C:\\Users\\dev\\repo'],
  ['C:\\Users\\dev\\repo. . ', 'C:\\Users\\dev\\repo'],
  ['C:\\Users\\dev\\my repo \\src', 'C:\\Users\\dev\\my repo\\src'],
  ['C:\\Users\\dev\\repo\\\\src', 'C:\\Users\\dev\\repo\\src'],
  ['C:\\', 'C:\\'],
];
for (const [input, want] of winCases) {
  test(`win32 normalize ${JSON.stringify(input)} -> ${JSON.stringify(want)}`, () => {
    assert.equal(normalizeAbsolute('win32', input), want);
  });
}

test('win32: UNC paths are refused unless allowed, and \\\\?\\UNC\\ is recognised as UNC', () => {
  assert.equal(
    refusedCode(() => normalizeAbsolute('win32', '\\\\server\\share\\repo')),
    'root-refused',
  );
  assert.equal(
    refusedCode(() => normalizeAbsolute('win32', '\\\\?\\UNC\\server\\share\\repo')),
    'root-refused',
  );
  assert.equal(normalizeAbsolute('win32', '\\\\?\\UNC\\server\\share\\repo', 'p', true), '\\\\server\\share\\repo');
  assert.equal(normalizeAbsolute('win32', '//server/share/repo/', 'p', true), '\\\\server\\share\\repo');
});

test('win32: device paths, drive-relative and driveless paths are refused', () => {
  assert.equal(
    refusedCode(() => normalizeAbsolute('win32', '\\\\.\\PhysicalDrive0')),
    'root-refused',
  );
  assert.equal(
    refusedCode(() => normalizeAbsolute('win32', 'C:repo')),
    'root-refused',
  );
  assert.equal(
    refusedCode(() => normalizeAbsolute('win32', '\\Users\\dev')),
    'root-refused',
  );
  assert.equal(
    refusedCode(() => normalizeAbsolute('win32', 'repo')),
    'root-refused',
  );
});

test('win32: containment is case-insensitive; posix is not', () => {
  assert.ok(isWithin('win32', 'C:\\Users\\Dev\\Repo', 'c:\\users\\dev\\repo\\.git\\HOOKS'));
  assert.ok(!isWithin('win32', 'C:\\Users\\dev\\repo', 'C:\\Users\\dev\\repo2'));
  assert.ok(!isWithin('linux', '/home/dev/Repo', '/home/dev/repo/x'));
  assert.ok(isWithin('linux', '/home/dev/repo', '/home/dev/repo'));
  assert.ok(!isWithin('linux', '/home/dev/repo', '/home/dev/repo-other'));
});

const posixCases: [string, string][] = [
  ['/home/dev/repo', '/home/dev/repo'],
  ['/home/dev/repo/', '/home/dev/repo'],
  ['/home/dev/./repo/../repo2', '/home/dev/repo2'],
  ['//home//dev/repo', '/home/dev/repo'],
  ['/', '/'],
];
for (const [input, want] of posixCases) {
  test(`posix normalize ${JSON.stringify(input)} -> ${JSON.stringify(want)}`, () => {
    assert.equal(normalizeAbsolute('linux', input), want);
  });
}

test('posix: relative paths are refused', () => {
  assert.equal(
    refusedCode(() => normalizeAbsolute('linux', 'repo')),
    'root-refused',
  );
});

test('symlinks are resolved through the filesystem view, and the target is what gets checked', () => {
  const fs: FsView = {
    realpath: (p) => (p === '/home/dev/link' ? '/etc' : p),
    kind: () => 'dir',
  };
  assert.equal(canonicalize({ ...lin, fs }, '/home/dev/link', 'root'), '/etc');
  assert.equal(
    refusedCode(() => refuseBroadRoot(lin, canonicalize({ ...lin, fs }, '/home/dev/link', 'root'), 'root')),
    'root-refused',
  );
  const winFs: FsView = {
    realpath: (p) => (p.toLowerCase() === 'c:\\junction' ? 'C:\\Users\\dev\\repo' : p),
    kind: () => 'dir',
  };
  assert.equal(canonicalize({ ...win, fs: winFs }, 'c:\\junction', 'root'), 'C:\\Users\\dev\\repo');
});

const refusedWin = [
  'C:\\',
  'D:\\',
  'C:\\Users',
  'C:\\Users\\dev',
  'c:\\users\\DEV',
  'C:\\Windows',
  'C:\\Windows\\System32',
  'C:\\Program Files',
  'C:\\Program Files\\Git',
  'C:\\Program Files (x86)',
  'C:\\ProgramData',
  'C:\\Users\\dev\\AppData\\Local\\Temp',
  'C:\\Users\\dev\\AppData',
  'C:\\Users\\dev\\AppData\\Local',
];
for (const r of refusedWin) {
  test(`win32 refuses the over-broad root ${r}`, () => {
    assert.equal(
      refusedCode(() => refuseBroadRoot(win, normalizeAbsolute('win32', r), 'root')),
      'root-refused',
    );
  });
}
const refusedPosix = [
  '/',
  '/home',
  '/home/dev',
  '/etc',
  '/etc/nginx',
  '/usr',
  '/usr/local/bin',
  '/tmp',
  '/var',
  '/proc/self',
  '/run/user/1000',
];
for (const r of refusedPosix) {
  test(`posix refuses the over-broad root ${r}`, () => {
    assert.equal(
      refusedCode(() => refuseBroadRoot(lin, r, 'root')),
      'root-refused',
    );
  });
}

test('project folders are accepted, including ones under temp and with odd characters', () => {
  for (const r of ['/home/dev/repo', '/tmp/ws-1', '/srv/app', "/home/dev/my 'odd' répo"])
    refuseBroadRoot(lin, r, 'root');
  for (const r of [
    'C:\\Users\\dev\\repo',
    'D:\\src\\app',
    'C:\\Users\\dev\\AppData\\Local\\Temp\\ws1',
    'C:\\ProgramData\\proj',
  ]) {
    refuseBroadRoot(win, normalizeAbsolute('win32', r), 'root');
  }
});

test('refusal messages name the field and the reason, and the fix says what to choose', () => {
  try {
    refuseBroadRoot(lin, '/home/dev', 'workspaceRoots[0]');
    assert.fail('expected refusal');
  } catch (e) {
    assert.ok(e instanceof SandboxError);
    assert.match(e.message, /workspaceRoots\[0\]: "\/home\/dev" is refused because it contains your home folder/);
    assert.match(e.fix, /project folder/);
  }
});
