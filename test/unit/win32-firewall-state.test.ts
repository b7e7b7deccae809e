import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateFirewall, firewallNote, type FirewallFacts } from '../../src/sandbox/windows/firewall-state';
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
  assert.match(elevatedEnforcement(plan, false, { enforced: true, reasons: [] }).notes.join(' '), /Not covered: DNS/);
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
