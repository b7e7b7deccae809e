import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_SOCKET_PATH } from '../../src/verify/connect';
import { Fixture } from '../../src/verify/fixtures';
import { Listeners } from '../../src/verify/listeners';

function stateDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'verify-fixture-state-'));
}

test(
  "fixture: a state folder under the host's /tmp puts the outside fixtures in /var/tmp, where the sandbox sees them",
  { skip: process.platform !== 'linux' && 'Linux only' },
  () => {
    const state = stateDir();
    try {
      const f = new Fixture({ stateDir: state });
      try {
        assert.ok(f.outside.startsWith('/var/tmp/agent-sandbox-verify-out-'), f.outside);
      } finally {
        assert.deepEqual(f.close(), []);
      }
      assert.equal(fs.existsSync(f.outside), false, 'removed on close');
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
  },
);

test('fixture: a fresh workspace gets .git/hooks and .git/config, a link out and a secret; close removes all', () => {
  const state = stateDir();
  try {
    const fx = new Fixture({ stateDir: state });
    assert.ok(fs.statSync(path.join(fx.workspace, '.git', 'hooks')).isDirectory());
    assert.ok(fs.statSync(path.join(fx.workspace, '.git', 'config')).isFile());
    assert.equal(fs.existsSync(path.join(fx.workspace, '.vscode')), false, '.vscode is left missing on purpose');
    assert.equal(fs.realpathSync(fx.link), fx.linkTarget);
    assert.match(fs.readFileSync(fx.secretFile, 'utf8'), new RegExp(fx.nonce));
    assert.ok(fs.statSync(fx.realTemp).isDirectory());
    const made = [fx.workspace, fx.outside, fx.realTemp];
    assert.deepEqual(fx.close(), []);
    for (const p of made) assert.equal(fs.existsSync(p), false, p);
    assert.deepEqual(fs.readdirSync(state), []);
    assert.deepEqual(fx.close(), [], 'idempotent');
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
});

test('fixture in a user workspace: removes only what this run made, keeps sandbox placeholders and user files', () => {
  const state = stateDir();
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-fixture-ws-'));
  try {
    fs.writeFileSync(path.join(ws, 'mine.txt'), 'user data');
    const fx = new Fixture({ stateDir: state, workspace: ws });
    assert.equal(fx.ownsWorkspace, false);
    assert.equal(fs.existsSync(path.join(ws, '.git')), false, 'a user workspace is not seeded');
    // What a broken sandbox would let the probe do:
    const vscode = path.join(ws, '.vscode');
    const placeholder = path.join(ws, '.agent-sandbox');
    fx.mayCreate(vscode);
    fx.mayCreate(placeholder);
    const planted = fx.stray(path.join(vscode, fx.fileName));
    fs.mkdirSync(vscode);
    fs.writeFileSync(planted, fx.nonce);
    fs.mkdirSync(placeholder);
    // A stray path holding someone else's content is never removed.
    const foreign = fx.stray(path.join(ws, 'foreign.txt'));
    fs.writeFileSync(foreign, 'not ours');
    assert.deepEqual(fx.close(new Set([placeholder])), []);
    assert.deepEqual(fs.readdirSync(ws).sort(), ['.agent-sandbox', 'foreign.txt', 'mine.txt']);
    assert.equal(fs.readFileSync(path.join(ws, 'mine.txt'), 'utf8'), 'user data');
    assert.deepEqual(fs.readdirSync(state), []);
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
    fs.rmSync(ws, { recursive: true, force: true });
  }
});

test("fixture: an empty probe file named with this run's nonce (a cancel between its creation and its write) is removed; an empty stray without the nonce in its name is kept", () => {
  const state = stateDir();
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-fixture-ws-'));
  try {
    const fx = new Fixture({ stateDir: state, workspace: ws });
    const cut = fx.stray(path.join(ws, fx.fileName));
    fs.writeFileSync(cut, '');
    const other = fx.stray(path.join(ws, 'empty.txt'));
    fs.writeFileSync(other, '');
    assert.deepEqual(fx.close(), []);
    assert.deepEqual(fs.readdirSync(ws), ['empty.txt']);
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
    fs.rmSync(ws, { recursive: true, force: true });
  }
});

test('fixture: mayCreate ignores paths that already exist, so a user folder is never removed', () => {
  const state = stateDir();
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-fixture-ws-'));
  try {
    fs.mkdirSync(path.join(ws, '.vscode'));
    const fx = new Fixture({ stateDir: state, workspace: ws });
    fx.mayCreate(path.join(ws, '.vscode'));
    fx.close();
    assert.ok(fs.existsSync(path.join(ws, '.vscode')));
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
    fs.rmSync(ws, { recursive: true, force: true });
  }
});

test(
  'fixture: the runtime stand-in sits under the state dir while its socket path fits, in /var/tmp when it does not',
  { skip: process.platform !== 'linux' && 'Linux only' },
  async () => {
    const short = stateDir();
    // Not under /tmp: a state folder there has its outside fixtures in /var/tmp (the sandbox hides the host's /tmp).
    const deep = path.join(
      fs.mkdtempSync('/var/tmp/verify-fixture-state-'),
      'user-data',
      'User',
      'globalStorage',
      'agent-sandbox.agent-sandbox',
      'x'.repeat(40),
    );
    fs.mkdirSync(deep, { recursive: true });
    try {
      const a = new Fixture({ stateDir: short });
      assert.ok(a.runtimeDir.startsWith(a.outside), a.runtimeDir);
      assert.ok(fs.statSync(a.runtimeDir).isDirectory());
      a.close();
      const b = new Fixture({ stateDir: deep });
      assert.ok(
        Buffer.byteLength(path.join(b.outside, 'run', 'bus')) > MAX_SOCKET_PATH,
        'the test needs a path that is too long',
      );
      assert.ok(b.runtimeDir.startsWith('/var/tmp/agent-sandbox-verify-run-'), b.runtimeDir);
      const l = new Listeners();
      try {
        await l.listenUnix(b.runtimeSocket);
        await assert.rejects(
          l.listenUnix(path.join(b.outside, 'run', 'bus')),
          /too long/,
          'never a silently shortened path',
        );
      } finally {
        l.close();
      }
      assert.deepEqual(b.close(), []);
      assert.equal(fs.existsSync(b.runtimeDir), false, 'removed with the rest');
    } finally {
      fs.rmSync(short, { recursive: true, force: true });
      fs.rmSync(path.dirname(path.dirname(path.dirname(path.dirname(path.dirname(deep))))), {
        recursive: true,
        force: true,
      });
    }
  },
);
