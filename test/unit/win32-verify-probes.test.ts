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
  for (const [mode, network] of [
    ['elevated', 'offline'],
    ['unelevated', 'offline'],
    ['elevated', 'online'],
  ] as const) {
    assert.deepEqual(
      windowsProbes(facts({ mode, network }))
        .map((p) => p.id)
        .sort(),
      [
        'clipboard-read',
        'console-cmd',
        'console-node',
        'console-powershell',
        network === 'offline' ? 'direct-tcp' : 'dns-lookup',
        network === 'offline' ? 'dns-lookup' : 'git-status',
        network === 'offline' ? 'git-status' : 'https',
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

test('offline a direct TCP connection (address literal, no TLS, proxy ignored) must be blocked only while the firewall verdict holds in elevated mode; never claimed unelevated or with the firewall off', () => {
  const direct = byId(facts({}))['direct-tcp'];
  assert.equal(direct.expect, 'blocked');
  assert.match(direct.argv.join(' '), /connect\(443,'1\.1\.1\.1'\)/);
  assert.ok(!/https|tls/i.test(direct.argv.join(' ')), 'no TLS: Schannel cannot make it fail for another reason');
  const off = byId(
    facts({
      firewall: { enforced: false, reasons: ['Windows Defender Firewall is off for the active Public profile'] },
    }),
  )['direct-tcp'];
  assert.equal(off.expect, 'not-checked');
  assert.match(off.why, /Public profile/);
  assert.equal(byId(facts({ mode: 'unelevated' }))['direct-tcp'].expect, 'not-checked');
  assert.equal(byId(facts({ network: 'online' }))['https'].expect, 'works');
  assert.equal(byId(facts({ network: 'online' }))['direct-tcp'], undefined);
});

test('DNS and UNC offline (and allowlist) are expected blocked while the elevated firewall holds, the gap named; otherwise not checked', () => {
  const p = byId(facts({}));
  assert.equal(p['dns-lookup'].expect, 'blocked');
  assert.match(p['dns-lookup'].why, /DNS Client service/);
  assert.equal(p['unc-path'].expect, 'blocked');
  assert.match(p['unc-path'].why, /redirector/);
  const off = byId(facts({ firewall: { enforced: false, reasons: ['Group Policy overrides local firewall rules'] } }));
  assert.equal(off['dns-lookup'].expect, 'not-checked');
  assert.match(off['unc-path'].why, /Group Policy/);
  const unelevated = byId(facts({ mode: 'unelevated' }));
  assert.equal(unelevated['dns-lookup'].expect, 'not-checked');
  assert.equal(unelevated['unc-path'].expect, 'not-checked');
  const online = byId(facts({ network: 'online' }));
  assert.equal(online['dns-lookup'].expect, 'works');
  assert.equal(online['unc-path'].expect, 'not-checked');
});

test('the DNS and UNC probes get real targets: a public name and the local SMB server; nothing is left as a placeholder', async () => {
  const { fillProbeArg, PROBE_TARGETS } = await import('../../src/verify/windows-probes');
  const p = byId(facts({}));
  const dns = p['dns-lookup'].argv.map(fillProbeArg);
  const unc = p['unc-path'].argv.map(fillProbeArg);
  assert.ok(dns.some((a) => a.includes(PROBE_TARGETS.dns)));
  assert.deepEqual(unc, ['net.exe', 'view', '\\\\127.0.0.1']);
  // {hwnd} is the window the verifier opens at run time (filled by runWindowsProbes; PowerShell's own braces stay).
  for (const probe of windowsProbes(facts({})))
    assert.ok(!/\{(?!hwnd\})[a-z]+\}/.test(probe.argv.map(fillProbeArg).join(' ')), probe.id);
});

test('git status works in elevated mode because of GIT_CONFIG_* safe.directory, with that as its hole', () => {
  assert.equal(byId(facts({}))['git-status'].hole, 'win-no-safe-directory');
});

test('under Wine nothing is expected: every probe is not-checked and says Wine', () => {
  for (const p of windowsProbes(facts({ wine: true }))) {
    assert.equal(p.expect, 'not-checked');
    assert.match(p.why, /^Wine: /);
  }
});

test('desktop escape probe: both modes try OpenDesktop("Default"), SetThreadDesktop and PostMessage to the verifier\'s window ({hwnd}) and must be blocked; unelevated names the UI-limits hole, elevated says why it has none', () => {
  for (const mode of ['elevated', 'unelevated'] as const) {
    const p = byId(facts({ mode }))['input-injection'];
    assert.equal(p.expect, 'blocked');
    const script = p.argv.join(' ');
    for (const call of [
      "OpenDesktop('Default'",
      'SetThreadDesktop($d)',
      'PostMessage([IntPtr][Int64]{hwnd}',
      'keybd_event',
    ])
      assert.ok(script.includes(call), `${mode}: ${call}`);
    assert.ok(script.indexOf('OpenDesktop(') < script.indexOf('SetThreadDesktop('), 'switch first, then post');
  }
  assert.equal(byId(facts({ mode: 'unelevated' }))['input-injection'].hole, 'win-no-ui-limits');
  assert.match(byId(facts({ mode: 'unelevated' }))['input-injection'].why, /DESKTOP\/HANDLES limits/);
  assert.equal(byId(facts({ mode: 'elevated' }))['input-injection'].hole, undefined);
  // Unelevated without UI limits (an outer job): a known, reported gap, not checked (as the clipboard); elevated
  // still checks it (the desktop's DACL holds without the limits).
  const gap = 'No job UI limits (clipboard, global atoms, window handles): ...';
  const noLimits = { privateDesktop: true, uiLimits: false, breakaway: false, gaps: [gap] };
  assert.equal(byId(facts({ mode: 'unelevated', ui: noLimits }))['input-injection'].expect, 'not-checked');
  assert.equal(byId(facts({ mode: 'elevated', ui: noLimits }))['input-injection'].expect, 'blocked');
  assert.match(byId(facts({ mode: 'elevated' }))['input-injection'].why, /no hole: Default's DACL/);
});
