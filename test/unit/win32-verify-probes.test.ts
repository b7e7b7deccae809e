import { test } from 'node:test';
import assert from 'node:assert/strict';
import { windowsProbes, type WindowsVerifyFacts } from '../../src/verify/windows-probes';

const full = { privateDesktop: true, uiLimits: true, breakaway: false, gaps: [] };
const facts = (f: Partial<WindowsVerifyFacts>): WindowsVerifyFacts => ({
  mode: 'elevated',
  network: 'offline',
  wine: false,
  ui: full,
  firewall: { enforced: true, reasons: [] },
  ...f,
});
const byId = (f: WindowsVerifyFacts) => Object.fromEntries(windowsProbes(f).map((p) => [p.id, p]));

test('every §5 probe is present in both modes', () => {
  for (const mode of ['elevated', 'unelevated'] as const) {
    assert.deepEqual(
      windowsProbes(facts({ mode }))
        .map((p) => p.id)
        .sort(),
      [
        'clipboard-read',
        'console-cmd',
        'console-node',
        'console-powershell',
        'dns-lookup',
        'git-status',
        'https',
        'input-injection',
        'node-grandchild-pipes',
        'realpath-workspace',
        'unc-path',
      ],
    );
  }
});

test('console programs on the pipe path must work in both modes, with a hole that can break them', () => {
  for (const mode of ['elevated', 'unelevated'] as const) {
    const p = byId(facts({ mode }))['console-cmd'];
    assert.equal(p.expect, 'works');
    assert.ok(p.hole);
  }
});

test('grandchild pipes: expected to work elevated (own SID), not claimed unelevated (documented limit)', () => {
  assert.equal(byId(facts({}))['node-grandchild-pipes'].expect, 'works');
  const u = byId(facts({ mode: 'unelevated' }))['node-grandchild-pipes'];
  assert.equal(u.expect, 'not-checked');
  assert.match(u.why, /known limit/);
});

test('UI: injection and clipboard must be blocked with a private desktop and UI limits; without them, not checked with the reason', () => {
  assert.equal(byId(facts({}))['input-injection'].expect, 'blocked');
  assert.equal(byId(facts({}))['clipboard-read'].expect, 'blocked');
  const gap = 'No job UI limits: Agent Sandbox itself runs inside a job that does not allow breakaway';
  const p = byId(facts({ ui: { privateDesktop: false, uiLimits: false, breakaway: false, gaps: [gap] } }));
  assert.equal(p['clipboard-read'].expect, 'not-checked');
  assert.match(p['clipboard-read'].why, /does not allow breakaway/);
  assert.equal(p['input-injection'].expect, 'not-checked');
});

test('offline HTTPS must be blocked only while the firewall verdict holds in elevated mode; never claimed unelevated or with the firewall off', () => {
  assert.equal(byId(facts({}))['https'].expect, 'blocked');
  const off = byId(
    facts({
      firewall: { enforced: false, reasons: ['Windows Defender Firewall is off for the active Public profile'] },
    }),
  )['https'];
  assert.equal(off.expect, 'not-checked');
  assert.match(off.why, /Public profile/);
  assert.equal(byId(facts({ mode: 'unelevated' }))['https'].expect, 'not-checked');
  assert.equal(byId(facts({ network: 'online' }))['https'].expect, 'works');
});

test('DNS and UNC offline are reported as known leaks, not as blocked', () => {
  const p = byId(facts({}));
  assert.equal(p['dns-lookup'].expect, 'not-checked');
  assert.match(p['dns-lookup'].why, /known leak/);
  assert.equal(p['unc-path'].expect, 'not-checked');
});

test('git status works in elevated mode because of GIT_CONFIG_* safe.directory, with that as its hole', () => {
  assert.equal(byId(facts({}))['git-status'].hole, 'no GIT_CONFIG_* safe.directory');
});

test('under Wine nothing is expected: every probe is not-checked and says Wine', () => {
  for (const p of windowsProbes(facts({ wine: true }))) {
    assert.equal(p.expect, 'not-checked');
    assert.match(p.why, /^Wine: /);
  }
});
