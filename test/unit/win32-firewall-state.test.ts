import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluateFirewall,
  firewallNote,
  readGroupPolicy,
  type FirewallFacts,
} from '../../src/sandbox/windows/firewall-state';
import { readStatus } from '../../src/sandbox/windows/setup/status';
import { performElevated } from '../../src/sandbox/windows/setup/elevated-action';
import type { ElevatedRequest } from '../../src/sandbox/windows/setup/payload';
import { FakeMachine } from './elevated-fake-machine';

const setupRequest: ElevatedRequest = {
  version: 1,
  action: 'setup',
  pipe: '\\\\.\\pipe\\agent-sandbox-setup-x',
  nonce: 'ab'.repeat(16),
  stateDir: 'C:\\state',
  home: 'C:\\Users\\dev',
  grants: [],
};

const on: FirewallFacts = {
  currentProfiles: 2 | 4,
  enabled: { 2: true, 4: true },
  modifyState: 0,
  services: { mpssvc: true, bfe: true },
};

test('firewall on for every active profile, local rules applied, services running: enforced', () => {
  assert.deepEqual(evaluateFirewall(on), { enforced: true, reasons: [] });
});

test('Group Policy registry settings for an active profile: local merge off or firewall off is not enforced; an inactive profile or merge on is fine', () => {
  const gp = (policy: FirewallFacts['groupPolicy']) => evaluateFirewall({ ...on, groupPolicy: policy });
  assert.match(
    gp({ 4: { localMerge: false } }).reasons.join(),
    /Public profile to ignore local firewall rules \(AllowLocalPolicyMerge = 0\)/,
  );
  assert.match(
    gp({ 2: { enabled: false } }).reasons.join(),
    /Group Policy turns Windows Defender Firewall off for the active Private profile/,
  );
  assert.deepEqual(
    gp({ 1: { localMerge: false, enabled: false } }),
    { enforced: true, reasons: [] },
    'Domain is not active',
  );
  assert.deepEqual(gp({ 2: { localMerge: true, enabled: true }, 4: {} }), { enforced: true, reasons: [] });
  // One reason per cause: the COM state already saying GP_OVERRIDE is not repeated from the registry.
  const both = evaluateFirewall({ ...on, modifyState: 1, groupPolicy: { 4: { localMerge: false } } });
  assert.equal(both.reasons.length, 1);
});

test('Group Policy registry read that fails other than "not found" (access denied): unknown, so not enforced; absent values are no policy', () => {
  const denied = readGroupPolicy((key, name) => {
    if (key.endsWith('PublicProfile') && name === 'AllowLocalPolicyMerge')
      throw new Error('RegGetValueW failed: Access is denied. (5)');
    return undefined;
  });
  assert.match(denied[4]?.unreadable?.join() ?? '', /AllowLocalPolicyMerge: .*Access is denied/);
  const v = evaluateFirewall({ ...on, groupPolicy: denied });
  assert.equal(v.enforced, false);
  assert.match(v.reasons.join(), /Group Policy firewall settings of the active Public profile could not be read/);
  // Nothing there at all (the reader's "not found") is no policy: enforced.
  assert.deepEqual(evaluateFirewall({ ...on, groupPolicy: readGroupPolicy(() => undefined) }), {
    enforced: true,
    reasons: [],
  });
  // A value of 0 read fine is still the policy it says.
  const merge0 = readGroupPolicy((key, name) =>
    key.endsWith('PrivateProfile') && name === 'AllowLocalPolicyMerge' ? 0 : undefined,
  );
  assert.equal(evaluateFirewall({ ...on, groupPolicy: merge0 }).enforced, false);
});

test('firewall off for one active profile (turned off or replaced by a third-party firewall): not enforced, names the profile', () => {
  const v = evaluateFirewall({ ...on, enabled: { 2: true, 4: false } });
  assert.equal(v.enforced, false);
  assert.match(v.reasons.join(), /off for the active Public profile/);
  assert.match(firewallNote(v), /NOT enforced/);
});

test('an inactive profile being off does not matter; an unreadable active one does', () => {
  assert.equal(evaluateFirewall({ ...on, currentProfiles: 2, enabled: { 2: true, 1: false } }).enforced, true);
  const v = evaluateFirewall({ ...on, enabled: { 2: true } });
  assert.equal(v.enforced, false);
  assert.match(v.reasons.join(), /Public profile could not be read/);
});

test('Group Policy override, or a modify state that differs per profile (S_FALSE): not enforced', () => {
  assert.match(evaluateFirewall({ ...on, modifyState: 1 }).reasons.join(), /Group Policy overrides/);
  assert.match(evaluateFirewall({ ...on, modifyState: 'per-profile' }).reasons.join(), /some profiles only/);
  assert.equal(
    evaluateFirewall({ ...on, modifyState: 2 }).enforced,
    true,
    'INBOUND_BLOCKED does not affect an outbound rule',
  );
});

test('firewall services stopped or unreadable, or nothing readable at all: not enforced (never assumed)', () => {
  assert.match(
    evaluateFirewall({ ...on, services: { mpssvc: false, bfe: true } }).reasons.join(),
    /mpssvc\) is not running/,
  );
  assert.match(evaluateFirewall({ ...on, services: { mpssvc: true } }).reasons.join(), /BFE\) is in an unknown state/);
  const none = evaluateFirewall({ enabled: {}, services: {} });
  assert.equal(none.enforced, false);
  assert.ok(none.reasons.length >= 4);
});

test('status reports the firewall verdict read from the machine (off → not enforced, with the reason)', async () => {
  const m = new FakeMachine();
  const r = await performElevated(setupRequest, m, () => 'Pw-aaaaaaaaaaaaaaaaaaaaaaaaaaa1!');
  assert.equal(r.ok, true, JSON.stringify(r.steps));
  m.firewall = { ...m.firewall, enabled: { 2: false } };
  const s = await readStatus(m, '/nonexistent-state-dir');
  assert.equal(s.firewall.enforced, false);
  assert.match(s.firewall.reasons.join(), /Private profile/);
  m.firewall = { ...m.firewall, enabled: { 2: true } };
  assert.equal((await readStatus(m, '/nonexistent-state-dir')).firewall.enforced, true);
});

test('elevated enforcement: offline is "enforced" only while the firewall verdict holds; off → "none" with the reason', async () => {
  const { elevatedEnforcement } = await import('../../src/sandbox/windows/enforcement');
  const plan = { network: 'offline' } as never;
  assert.equal(elevatedEnforcement(plan, false, { enforced: true, reasons: [] }).network, 'enforced');
  const off = elevatedEnforcement(plan, false, {
    enforced: false,
    reasons: ['Windows Defender Firewall is off for the active Public profile'],
  });
  assert.equal(off.network, 'none');
  assert.match(off.notes.join(' '), /NOT enforced: Windows Defender Firewall is off/);
  assert.match(
    elevatedEnforcement(plan, false, { enforced: true, reasons: [] }).notes.join(' '),
    /Not covered by the firewall rules: DNS/,
  );
  assert.equal(elevatedEnforcement(plan, true, { enforced: true, reasons: [] }).network, 'none', 'Wine never enforces');
});

test('offline block read back when the offline runner starts: rule removed → not ok; firewall facts evaluated', async () => {
  const { offlineBlockState } = await import('../../src/sandbox/windows/setup/status');
  const m = new FakeMachine();
  const r = await performElevated(setupRequest, m, () => 'Pw-aaaaaaaaaaaaaaaaaaaaaaaaaaa1!');
  assert.equal(r.ok, true, JSON.stringify(r.steps));
  const sid = m.users.get('AgentSandboxOffline')!.sid;
  assert.deepEqual(await offlineBlockState(m, sid), { ruleOk: true, firewall: { enforced: true, reasons: [] } });
  m.rules = [];
  assert.equal((await offlineBlockState(m, sid)).ruleOk, false);
});

test('firewall rule read-back compares meaning: profiles by their bits, addresses as a set, the user list by its ACEs; a different SID or action still mismatches', async () => {
  const { ruleMatches } = await import('../../src/sandbox/windows/setup/setup-steps');
  const { buildSetupPlan, ruleUserSddl } = await import('../../src/sandbox/windows/setup/setup-plan');
  const want = buildSetupPlan({ home: 'C:\\Users\\dev' }).firewall[0];
  const sddl = ruleUserSddl('S-1-5-21-1-2-3-1001');
  const exact = {
    name: want.name,
    direction: want.direction,
    action: want.action,
    profiles: want.profiles,
    protocol: want.protocol,
    remoteAddresses: want.remoteAddresses,
    enabled: true,
    localUserAuthorizedList: sddl,
  };
  assert.equal(ruleMatches(exact, want, sddl), true);
  assert.equal(ruleMatches({ ...exact, profiles: 7, localUserAuthorizedList: sddl.toLowerCase() }, want, sddl), true);
  assert.equal(
    ruleMatches({ ...exact, localUserAuthorizedList: ruleUserSddl('S-1-5-21-1-2-3-1002') }, want, sddl),
    false,
  );
  assert.equal(ruleMatches({ ...exact, action: 1 - want.action }, want, sddl), false);
  assert.equal(ruleMatches({ ...exact, profiles: 2 }, want, sddl), false);
  assert.equal(ruleMatches({ ...exact, localUserAuthorizedList: undefined }, want, sddl), false);
});

test('firewall rule read-back: ports compare as a set, "*" or empty as no scope; a wider or unreadable port scope mismatches', async () => {
  const { ruleMatches } = await import('../../src/sandbox/windows/setup/setup-steps');
  const { buildSetupPlan, ruleUserSddl } = await import('../../src/sandbox/windows/setup/setup-plan');
  const rules = buildSetupPlan({ home: 'C:\\Users\\dev' }).firewall;
  const sddl = ruleUserSddl('S-1-5-21-1-2-3-1001');
  const back = (r: (typeof rules)[number]) => ({
    name: r.name,
    direction: r.direction,
    action: r.action,
    profiles: r.profiles,
    protocol: r.protocol,
    remoteAddresses: r.remoteAddresses,
    enabled: true,
    localUserAuthorizedList: sddl,
  });
  const tcp = rules.find((r) => r.id === 'offline-loopback-tcp')!;
  const ports = tcp.remotePorts!;
  assert.equal(ruleMatches({ ...back(tcp), remotePorts: ports }, tcp, sddl), true);
  assert.equal(ruleMatches({ ...back(tcp), remotePorts: ports.split(',').reverse().join(', ') }, tcp, sddl), true);
  assert.equal(ruleMatches({ ...back(tcp), remotePorts: '1-65535' }, tcp, sddl), false, 'the proxy ports closed');
  assert.equal(ruleMatches({ ...back(tcp), remotePorts: '*' }, tcp, sddl), false);
  assert.equal(ruleMatches(back(tcp), tcp, sddl), false, 'ports unreadable: fail closed');
  assert.equal(ruleMatches({ ...back(tcp), protocol: 17, remotePorts: ports }, tcp, sddl), false, 'UDP instead of TCP');
  const udp = rules.find((r) => r.id === 'offline-loopback-udp')!;
  assert.equal(ruleMatches({ ...back(udp), remotePorts: '*' }, udp, sddl), true);
  assert.equal(ruleMatches({ ...back(udp), remotePorts: '' }, udp, sddl), true);
  assert.equal(ruleMatches({ ...back(udp), remotePorts: '53' }, udp, sddl), false, 'narrowed to one port');
});

test('elevated enforcement: allowlist runs as the offline account, "enforced" only while the firewall verdict holds, says the proxy is the way out', async () => {
  const { elevatedEnforcement } = await import('../../src/sandbox/windows/enforcement');
  const plan = { network: 'allowlist' } as never;
  const on = elevatedEnforcement(plan, false, { enforced: true, reasons: [] });
  assert.equal(on.network, 'enforced');
  assert.match(on.notes.join(' '), /AgentSandboxOffline/);
  assert.match(on.notes.join(' '), /except TCP to the allowlist proxy's loopback ports/);
  assert.doesNotMatch(on.notes.join(' '), /not run by the elevated sandbox/);
  const gp = elevatedEnforcement(plan, false, {
    enforced: false,
    reasons: ['Group Policy overrides local firewall rules, ours included'],
  });
  assert.equal(gp.network, 'none');
  assert.match(gp.notes.join(' '), /NOT enforced: Group Policy overrides/);
  const online = elevatedEnforcement({ network: 'online' } as never, false, { enforced: false, reasons: ['x'] });
  assert.match(online.notes.join(' '), /AgentSandboxOnline/);
  assert.doesNotMatch(online.notes.join(' '), /NOT enforced/, 'online claims no block, so no firewall caveat');
});
