// Wine tier: the elevated mode's bindings. Wine implements DPAPI and the registry faithfully, so those round trips
// are real. Wine only stubs firewall COM (objects are created and setters return S_OK, getters E_NOTIMPL, nothing
// is stored) and keeps NetUserAdd's account inside its own process: those tests check calling conventions and error
// marshalling only. Whether accounts exist, logons work or a rule blocks traffic needs real Windows (Verify).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { protectForCurrentUser, unprotectForCurrentUser } from '../../../native-bindings/win32/dpapi';
import { Win32Error } from '../../../native-bindings/win32/errors';
import { configureRule, FirewallPolicy, newRuleObject, readRule } from '../../../native-bindings/win32/firewall';
import { buildSetupPlan } from '../../../src/sandbox/windows/setup/setup-plan';
import { evaluateFirewall, readFirewallFacts } from '../../../src/sandbox/windows/firewall-state';
import { guid } from '../../../native-bindings/win32/com';
import {
  deleteMachineKey,
  deleteMachineValue,
  getMachineValue,
  machineKeyExists,
  setMachineValues,
} from '../../../native-bindings/win32/registry';
import * as users from '../../../native-bindings/win32/users';
import { shellExecuteInfoSize, SHELLEXECUTEINFOW_X64_SIZE } from '../../../native-bindings/win32/elevate';
import { loadCredential, saveCredentials, storedAccounts } from '../../../src/sandbox/windows/setup/credentials';
import { CREDENTIALS_FILE } from '../../../src/sandbox/windows/setup/constants';

const E_NOTIMPL = 0x80004001;
const E_NOINTERFACE = 0x80004002;

test('struct sizes: USER_INFO_1, USER_INFO_23, LOCALGROUP_INFO_1 and SHELLEXECUTEINFOW match x64', () => {
  for (const [name, size] of Object.entries(users.USERS_X64_SIZES)) {
    assert.equal(users.usersStructSize(name as keyof typeof users.USERS_X64_SIZES), size, name);
  }
  assert.equal(shellExecuteInfoSize(), SHELLEXECUTEINFOW_X64_SIZE);
});

test('DPAPI round trip for the current user under Wine, with tampering and wrong entropy rejected', () => {
  const entropy = Buffer.from('agent-sandbox:AgentSandboxOffline');
  const blob = protectForCurrentUser(Buffer.from('S3cret-pässword!'), entropy, 'test');
  assert.ok(blob.length > 16);
  assert.ok(!blob.includes(Buffer.from('S3cret')), 'the blob does not contain the password');
  assert.equal(unprotectForCurrentUser(blob, entropy).toString(), 'S3cret-pässword!');
  const tampered = Buffer.from(blob);
  tampered[tampered.length - 3] ^= 0x40;
  assert.throws(
    () => unprotectForCurrentUser(tampered, entropy),
    (e: unknown) => e instanceof Win32Error && e.api === 'CryptUnprotectData',
  );
  assert.throws(() => unprotectForCurrentUser(blob, Buffer.from('other')), Win32Error);
});

test('credential store: passwords are saved as DPAPI blobs and read back per account (Wine DPAPI is real)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asb-cred-'));
  try {
    saveCredentials(dir, [
      {
        network: 'offline',
        name: 'AgentSandboxOffline',
        sid: 'S-1-5-21-1-2-3-1001',
        password: 'pw-offline-123456789012345',
      },
    ]);
    const text = fs.readFileSync(path.join(dir, CREDENTIALS_FILE), 'utf8');
    assert.ok(!text.includes('pw-offline'), 'no clear-text password on disk');
    assert.deepEqual(storedAccounts(dir), { offline: { name: 'AgentSandboxOffline', sid: 'S-1-5-21-1-2-3-1001' } });
    assert.equal(loadCredential(dir, 'offline')?.password, 'pw-offline-123456789012345');
    assert.equal(loadCredential(dir, 'online'), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('registry marker values round-trip under HKLM (Wine stores its registry faithfully)', () => {
  const key = 'SOFTWARE\\AgentSandboxWineTest';
  try {
    assert.equal(getMachineValue(key, 'Version', 'dword'), undefined);
    assert.equal(machineKeyExists(key), false);
    setMachineValues(key, { Version: 7, GroupSid: 'S-1-5-21-9-8-7-1000' });
    assert.equal(machineKeyExists(key), true, 'an existing key is seen (what setup records before creating UserList)');
    assert.equal(getMachineValue(key, 'Version', 'dword'), 7);
    assert.equal(getMachineValue(key, 'GroupSid', 'string'), 'S-1-5-21-9-8-7-1000');
    deleteMachineValue(key, 'Version');
    deleteMachineValue(key, 'Version');
    assert.equal(getMachineValue(key, 'Version', 'dword'), undefined);
  } finally {
    deleteMachineKey(key);
  }
  assert.equal(getMachineValue(key, 'GroupSid', 'string'), undefined);
  assert.equal(machineKeyExists(key), false);
});

test('firewall COM plumbing under Wine: INetFwPolicy2 and INetFwRules vtable calls marshal HRESULTs (Wine stores and enforces nothing)', () => {
  const policy = FirewallPolicy.open();
  try {
    assert.equal(typeof policy.ruleCount(), 'number');
    // Wine's getters return E_NOTIMPL: the HRESULT must arrive as a Win32Error naming the interface method.
    assert.throws(
      () => policy.localPolicyModifyState(),
      (e: unknown) =>
        e instanceof Win32Error && e.api === 'INetFwPolicy2::get_LocalPolicyModifyState' && e.code === E_NOTIMPL,
    );
    assert.throws(
      () => policy.item('Agent Sandbox: no such rule'),
      (e: unknown) => e instanceof Win32Error && e.api === 'INetFwRules::Item',
    );
    policy.remove('Agent Sandbox: no such rule');
  } finally {
    policy.close();
    policy.close();
  }
});

test('firewall COM plumbing under Wine: every INetFwRule setter is called in order; no INetFwRule3 means no rule is added', () => {
  const spec = {
    name: 'Agent Sandbox: wine plumbing',
    description: 'd',
    grouping: 'Agent Sandbox',
    direction: 2,
    action: 0,
    profiles: 0x7fffffff,
    protocol: 256,
    remoteAddresses: '*',
    enabled: true,
    localUserAuthorizedList: 'O:LSD:(A;;CC;;;S-1-5-21-1-2-3-4)',
  };
  const rule = newRuleObject();
  try {
    // All INetFwRule setters succeed; Wine has no INetFwRule3, so the user scope cannot be set and configuration stops.
    assert.throws(
      () => configureRule(rule, spec),
      (e: unknown) =>
        e instanceof Win32Error && e.api === 'INetFwRule::QueryInterface(INetFwRule3)' && e.code === E_NOINTERFACE,
    );
    const back = readRule(rule);
    assert.deepEqual(
      Object.values(back).filter((v) => v !== undefined),
      [],
      'Wine reads nothing back, so setup would fail closed',
    );
  } finally {
    rule.close();
  }
  const policy = FirewallPolicy.open();
  try {
    const before = policy.ruleCount();
    assert.throws(() => policy.add(spec), /INetFwRule3/);
    assert.equal(policy.ruleCount(), before, 'an unscoped rule is never added');
  } finally {
    policy.close();
  }
});

test('firewall COM plumbing under Wine: every rule setup plans (scoped offline block, DNS, ICMPv4/v6, SMB) marshals through the INetFwRule setters, protocol before ports (plumbing only; Wine stores and enforces nothing)', () => {
  const rules = buildSetupPlan({ home: 'C:\\Users\\dev' }).firewall;
  assert.equal(rules.length, 9);
  for (const r of rules) {
    const spec = {
      name: `${r.name} (wine plumbing)`,
      description: r.description,
      grouping: r.grouping,
      direction: r.direction,
      action: r.action,
      profiles: r.profiles,
      protocol: r.protocol,
      ...(r.remotePorts !== undefined ? { remotePorts: r.remotePorts } : {}),
      remoteAddresses: r.remoteAddresses,
      enabled: true,
      localUserAuthorizedList: 'O:LSD:(A;;CC;;;S-1-5-21-1-2-3-4)',
    };
    const rule = newRuleObject();
    try {
      // Every INetFwRule setter returns S_OK; configuration stops only at Wine's missing INetFwRule3.
      assert.throws(
        () => configureRule(rule, spec),
        (e: unknown) =>
          e instanceof Win32Error && e.api === 'INetFwRule::QueryInterface(INetFwRule3)' && e.code === E_NOINTERFACE,
        r.name,
      );
      assert.equal(readRule(rule).remotePorts, undefined, 'Wine reads nothing back, so setup would fail closed');
    } finally {
      rule.close();
    }
  }
});

test('firewall state under Wine: the Group Policy registry keys read as absent and the facts evaluate as NOT enforced (Wine has no firewall)', () => {
  const facts = readFirewallFacts();
  assert.deepEqual(facts.groupPolicy, { 1: {}, 2: {}, 4: {} });
  const v = evaluateFirewall(facts);
  assert.equal(v.enforced, false);
  assert.ok(v.reasons.length > 0);
});

test('COM GUIDs are laid out as in memory (Data1..3 little-endian, Data4 as bytes)', () => {
  assert.equal(guid('B21563FF-D696-4222-AB46-4E89B73AB34A').toString('hex'), 'ff6315b296d62242ab464e89b73ab34a');
  assert.throws(() => guid('not-a-guid'), /Not a GUID/);
});

test('NetUserAdd call path under Wine: the call marshals and succeeds (Wine keeps the account in-process only; nothing is created)', () => {
  const name = 'AgentSandboxWineT';
  assert.equal(users.getUser(name), undefined, 'NetUserGetInfo reports a missing account as undefined');
  users.addUser({
    name,
    password: 'Aa1!wine-plumbing-only-000000',
    priv: 1,
    flags: 0x10041,
    comment: 'Agent Sandbox Wine test',
  });
  assert.throws(() => users.addUser({ name, password: 'x', priv: 2, flags: 0, comment: '' }), /USER_PRIV_USER only/);
  users.deleteUser(name);
  assert.equal(users.accountNameOfSid('S-1-5-32-545'), 'Users');
  assert.ok(users.computerName().length > 0);
  assert.throws(
    () => users.accountNameOfSid('S-1-5-21-1-2-3-999999'),
    (e: unknown) => e instanceof Win32Error && e.api === 'LookupAccountSidW',
  );
});
