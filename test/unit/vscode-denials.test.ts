/** Denial explanations: which write was blocked and why, hidden credentials, the offline network. */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainDenials, type DenialContext } from '../../src/vscode/denials';

const ctx: DenialContext = {
  platform: 'linux',
  mode: 'workspace-write',
  network: 'offline',
  writableRoots: ['/home/dev/repo'],
  protectedPaths: [
    { path: '/home/dev/repo/.git/hooks', glob: '.git/hooks/**' },
    { path: '/home/dev/repo/.vscode', glob: '.vscode/**' },
  ],
  denyRead: ['/home/dev/.ssh'],
  tempDir: '/home/dev/.local/state/agent-sandbox/tmp/abc',
};

test('a write outside the workspace names the path, the writable roots and the setting to change', () => {
  const [d, ...rest] = explainDenials('sh: 1: cannot create /home/dev/other/x.txt: Read-only file system', ctx);
  assert.equal(rest.length, 0);
  assert.match(d, /Write to \/home\/dev\/other\/x\.txt was blocked/);
  assert.match(d, /only inside \/home\/dev\/repo/);
  assert.match(d, /agentSandbox\.extraWritableRoots/);
});

test('a write to a protected path says it is protected and not to retry', () => {
  const [d] = explainDenials("touch: cannot touch '/home/dev/repo/.vscode/tasks.json': Read-only file system", ctx);
  assert.match(d, /protected path \(\.vscode\/\*\*/);
  assert.match(d, /Do not retry/);
});

test('a read of hidden credentials is explained', () => {
  const [d] = explainDenials('cat: /home/dev/.ssh/id_rsa: Permission denied', ctx);
  assert.match(d, /hidden from the sandbox/);
});

test('a permission error inside the workspace is not blamed on the sandbox', () => {
  assert.deepEqual(explainDenials('bash: /home/dev/repo/run.sh: Permission denied', ctx), []);
  assert.deepEqual(explainDenials('wrote /home/dev/.local/state/agent-sandbox/tmp/abc/f: EACCES', ctx), []);
});

test('network failures are explained only when offline', () => {
  const out = 'curl: (6) Could not resolve host: example.com\nnpm ERR! getaddrinfo EAI_AGAIN registry.npmjs.org';
  const offline = explainDenials(out, ctx);
  assert.equal(offline.length, 1, 'one explanation per cause');
  assert.match(offline[0], /network is blocked.*offline.*network "online"/s);
  assert.deepEqual(explainDenials(out, { ...ctx, network: 'online' }), []);
});

test('the program named at the start of an error line (/bin/sh: ...) is not reported as the blocked path', () => {
  const found = explainDenials('/bin/sh: 1: cannot create /home/dev/other/x.txt: Read-only file system', ctx);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.match(found[0], /Write to \/home\/dev\/other\/x\.txt was blocked/);
  const [general, ...rest] = explainDenials('/bin/sh: 1: cannot create out.txt: Read-only file system', ctx);
  assert.equal(rest.length, 0);
  assert.match(general, /A write was blocked by the sandbox/);
});

test('"Read-only file system" without a path still reports a blocked write', () => {
  const [d] = explainDenials('OSError: [Errno 30] Read-only file system', ctx);
  assert.match(d, /A write was blocked by the sandbox/);
});

test('ordinary output yields no denials', () => {
  assert.deepEqual(explainDenials('all 12 tests passed\n', ctx), []);
});

test('Windows paths are resolved with path.win32', () => {
  const win: DenialContext = {
    ...ctx,
    platform: 'win32',
    writableRoots: ['C:\\repo'],
    protectedPaths: [],
    denyRead: [],
    tempDir: 'C:\\state\\tmp',
  };
  const [d] = explainDenials('Access is denied: C:\\Windows\\x.txt', win);
  assert.match(d, /Write to C:\\Windows\\x\.txt was blocked/);
});
