import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePlan, type CompileContext } from '../../src/policy';
import { classify, toRow, type Category, type CheckDef } from '../../src/verify/classify';
import { enforcementGaps } from '../../src/verify/checks';
import { parseFacts } from '../../src/verify';
import type { Enforcement } from '../../src/sandbox/types';
import { PROBE_PREFIX, SECRET_SEEN, type ProbeFact } from '../../src/verify/types';

const def = (kind: CheckDef['kind'], extra: Partial<CheckDef> = {}): CheckDef => ({
  id: 'x',
  title: 'X',
  kind,
  category: 'filesystem',
  held: 'It held.',
  broken: 'It broke.',
  ...extra,
});
const fact = (f: Partial<ProbeFact>): ProbeFact => ({ id: 'x', ok: false, ...f });
const none = new Set<Category>();

test('write: a file that reached the host is SUCCEEDED whatever the probe said', () => {
  assert.equal(classify(def('write'), fact({ ok: false, code: 'EROFS' }), { landed: true }).observed, 'SUCCEEDED');
  assert.equal(classify(def('write'), undefined, { landed: true }).observed, 'SUCCEEDED');
});

test('write: access errors are DENIED; anything else is FAILED, never a pass', () => {
  for (const code of ['EACCES', 'EPERM', 'EROFS']) {
    assert.equal(classify(def('write'), fact({ code }), { landed: false }).observed, 'DENIED', code);
  }
  for (const code of ['ENOENT', 'ENOSPC', 'EEXIST', undefined]) {
    assert.equal(classify(def('write'), fact({ code }), { landed: false }).observed, 'FAILED', String(code));
  }
  assert.equal(classify(def('write'), undefined, { landed: false }).observed, 'FAILED', 'no fact');
});

test('write: the probe saying it wrote while nothing reached the host is FAILED (no silent pass)', () => {
  assert.equal(classify(def('write'), fact({ ok: true }), { landed: false }).observed, 'FAILED');
  assert.equal(
    classify(def('write'), fact({ ok: true }), {}).observed,
    'SUCCEEDED',
    'open-only: the probe is the evidence',
  );
});

test('write: an invisible target is DENIED only where invisibility is the protection', () => {
  const f = fact({ code: 'ANCHOR_MISSING', message: '/tmp/x: ENOENT' });
  assert.equal(classify(def('write', { invisibleMeansDenied: true }), f, { landed: false }).observed, 'DENIED');
  assert.equal(classify(def('write'), f, { landed: false }).observed, 'FAILED');
});

test('read: only the secret content counts as read; hidden, empty or refused is DENIED', () => {
  assert.equal(classify(def('read'), fact({ ok: true, value: SECRET_SEEN }), {}).observed, 'SUCCEEDED');
  assert.equal(classify(def('read'), fact({ ok: true, value: 'other' }), {}).observed, 'DENIED');
  assert.equal(classify(def('read'), fact({ code: 'ENOENT' }), {}).observed, 'DENIED');
  assert.equal(classify(def('read'), fact({ code: 'EACCES' }), {}).observed, 'DENIED');
  assert.equal(classify(def('read'), fact({ code: 'ANCHOR_MISSING' }), {}).observed, 'FAILED');
  assert.equal(classify(def('read'), fact({ code: 'EIO' }), {}).observed, 'FAILED');
});

test('network: the listener seeing the nonce is SUCCEEDED; refusals DENIED; a stranger answering FAILED', () => {
  assert.equal(classify(def('network'), fact({ ok: true }), { landed: true }).observed, 'SUCCEEDED');
  for (const code of ['EAFNOSUPPORT', 'ECONNREFUSED', 'ENETUNREACH', 'TIMEOUT', 'DNS_ECONNREFUSED', 'DNS_ETIMEOUT']) {
    assert.equal(classify(def('network'), fact({ code }), { landed: false }).observed, 'DENIED', code);
  }
  assert.equal(classify(def('network'), fact({ ok: true }), { landed: false }).observed, 'FAILED');
  assert.equal(classify(def('network'), fact({ code: 'EWEIRD' }), { landed: false }).observed, 'FAILED');
});

test('a check whose own setup failed is FAILED even if the probe was refused', () => {
  assert.equal(
    classify(def('network'), fact({ code: 'ECONNREFUSED' }), { unusable: 'listener dead' }).observed,
    'FAILED',
  );
});

test('env: any variable carrying the secret is SUCCEEDED (a leak), none is DENIED', () => {
  assert.equal(
    classify(def('env'), fact({ ok: true, value: 'AGENT_SANDBOX_VERIFY_SECRET_TOKEN' }), {}).observed,
    'SUCCEEDED',
  );
  assert.equal(classify(def('env'), fact({ ok: true, value: '' }), {}).observed, 'DENIED');
});

test('orphan: a heartbeat that went on is SUCCEEDED; one that never started is FAILED', () => {
  assert.equal(classify(def('orphan'), fact({ ok: true }), { landed: true }).observed, 'SUCCEEDED');
  assert.equal(classify(def('orphan'), fact({ ok: true }), { landed: false }).observed, 'DENIED');
  assert.equal(
    classify(def('orphan'), fact({ ok: false, code: 'NO_HEARTBEAT' }), { landed: false }).observed,
    'FAILED',
  );
  assert.equal(classify(def('orphan'), fact({ ok: true }), {}).observed, 'FAILED', 'heartbeat unreadable');
});

test('toRow: pass only when observed equals expected; FAILED never passes', () => {
  const d = def('write');
  assert.equal(toRow(d, 'DENIED', { observed: 'DENIED', detail: '' }, none).pass, true);
  assert.equal(toRow(d, 'DENIED', { observed: 'SUCCEEDED', detail: '' }, none).pass, false);
  assert.equal(toRow(d, 'SUCCEEDED', { observed: 'FAILED', detail: '' }, none).pass, false);
  assert.equal(toRow(d, 'DENIED', { observed: 'FAILED', detail: '' }, none).pass, false);
  const held = toRow(d, 'DENIED', { observed: 'DENIED', detail: '' }, none);
  assert.equal(held.meaning, 'It held.');
  assert.equal(toRow(d, 'DENIED', { observed: 'SUCCEEDED', detail: '' }, none).meaning, 'It broke.');
});

test('toRow: a declared gap turns an unexpected success into NOT_ENFORCED, still not a pass', () => {
  const d = def('read', { category: 'deny-read' });
  const row = toRow(d, 'DENIED', { observed: 'SUCCEEDED', detail: '' }, new Set<Category>(['deny-read']));
  assert.equal(row.observed, 'NOT_ENFORCED');
  assert.equal(row.pass, false);
  assert.match(row.meaning, /^Not enforced in this mode/);
  assert.equal(
    toRow(d, 'DENIED', { observed: 'SUCCEEDED', detail: '' }, new Set<Category>(['network'])).observed,
    'SUCCEEDED',
  );
  assert.equal(toRow(d, 'DENIED', { observed: 'DENIED', detail: '' }, new Set<Category>(['deny-read'])).pass, true);
});

const linCtx: CompileContext = {
  platform: 'linux',
  home: '/home/dev',
  userTemp: '/tmp',
  stateDir: '/home/dev/.s',
  env: {},
};
const winCtx: CompileContext = {
  platform: 'win32',
  home: 'C:\\Users\\dev',
  userTemp: 'C:\\Users\\dev\\AppData\\Local\\Temp',
  stateDir: 'C:\\Users\\dev\\AppData\\Local\\AgentSandbox',
  env: {},
};

test('enforcementGaps: Linux declares none; Windows unelevated declares denyRead and (offline) network', () => {
  const enforced: Enforcement = { filesystem: 'enforced', network: 'enforced', notes: [] };
  assert.deepEqual([...enforcementGaps(compilePlan({ workspaceRoots: ['/home/dev/r'] }, linCtx), enforced)], []);
  const unelevated = compilePlan({ workspaceRoots: ['C:\\Users\\dev\\r'] }, winCtx);
  assert.deepEqual([...enforcementGaps(unelevated, undefined)].sort(), ['deny-read', 'network']);
  const online = compilePlan({ workspaceRoots: ['C:\\Users\\dev\\r'], network: 'online' }, winCtx);
  assert.deepEqual([...enforcementGaps(online, undefined)], ['deny-read']);
  const elevated = compilePlan({ workspaceRoots: ['C:\\Users\\dev\\r'] }, { ...winCtx, windowsMode: 'elevated' });
  assert.deepEqual([...enforcementGaps(elevated, enforced)], []);
  const advisory: Enforcement = { filesystem: 'advisory', network: 'advisory', notes: [] };
  assert.deepEqual([...enforcementGaps(compilePlan({ workspaceRoots: ['/home/dev/r'] }, linCtx), advisory)].sort(), [
    'filesystem',
    'network',
  ]);
});

test('parseFacts keeps well-formed fact lines and ignores noise and torn lines', () => {
  const out = [
    'banner from a shell',
    `${PROBE_PREFIX}{"id":"a","ok":true}`,
    `${PROBE_PREFIX}{"id":"b","ok":false,"code":"EROFS"}\r`,
    `${PROBE_PREFIX}{"id":"c","ok":tr`,
    `${PROBE_PREFIX}{"ok":true}`,
  ].join('\n');
  const facts = parseFacts(out);
  assert.deepEqual([...facts.keys()], ['a', 'b']);
  assert.equal(facts.get('b')?.code, 'EROFS');
});
