import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uiIsolation } from '../../src/sandbox/windows/ui-isolation';

const base = { sshSession: false, windowStation: 'WinSta0', outerJob: { inJob: false, breakawayOk: false } };

test('interactive session, no outer job: private desktop and UI limits, no gaps', () => {
  assert.deepEqual(uiIsolation(base), { privateDesktop: true, uiLimits: true, breakaway: false, gaps: [] });
});

test('window station names compare case-insensitively', () => {
  assert.equal(uiIsolation({ ...base, windowStation: 'winsta0' }).privateDesktop, true);
});

test('SSH session: no private desktop, and the gap names SSH', () => {
  const r = uiIsolation({ ...base, sshSession: true });
  assert.equal(r.privateDesktop, false);
  assert.equal(r.uiLimits, true);
  assert.match(r.gaps.join(), /SSH/);
});

test('service window station: no private desktop, and the gap names the window station', () => {
  const r = uiIsolation({ ...base, windowStation: 'Service-0x0-3e7$' });
  assert.equal(r.privateDesktop, false);
  assert.match(r.gaps.join(), /Service-0x0-3e7\$/);
});

test('inside a job that allows breakaway: break away and keep the UI limits', () => {
  const r = uiIsolation({ ...base, outerJob: { inJob: true, breakawayOk: true } });
  assert.deepEqual(r, { privateDesktop: true, uiLimits: true, breakaway: true, gaps: [] });
});

test('inside a job that allows no breakaway: no UI limits, and the reason is the outer job (not the program)', () => {
  const r = uiIsolation({ ...base, outerJob: { inJob: true, breakawayOk: false } });
  assert.equal(r.uiLimits, false);
  assert.equal(r.breakaway, false);
  assert.equal(r.gaps.length, 1);
  assert.match(r.gaps[0], /runs inside a job that does not allow breakaway/);
  assert.match(r.gaps[0], /clipboard is shared/);
  // Unelevated the token keeps the developer's logon SID: the private desktop alone is not claimed to hold.
  assert.match(r.gaps[0], /private desktop alone does not stop input injection/);
  assert.doesNotMatch(r.gaps[0], /Windows executable/);
});
