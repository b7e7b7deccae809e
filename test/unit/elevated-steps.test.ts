import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSetupPlan } from '../../src/sandbox/windows/setup/setup-plan';
import { FakeMachine } from './elevated-fake-machine';
import { elevatedPlan, HOME } from './win32-elevated-plan-fixture';
import { setupSteps, type SetupState } from '../../src/sandbox/windows/setup/setup-steps';
import { leftovers, uninstallSteps } from '../../src/sandbox/windows/setup/uninstall-steps';
import { runAllSteps, runSteps } from '../../src/sandbox/windows/setup/steps';

const plan = buildSetupPlan({
  plan: elevatedPlan(['C:\\src\\a', 'D:\\b'], { runtimeDirs: ['C:\\Users\\dev\\AppData\\Local\\Programs\\Git'] }),
  home: HOME,
});
let pw = 0;
const newPassword = () => `Pw-${++pw}-xxxxxxxxxxxxxxxxxxxxxxxx`;

async function setup(m: FakeMachine) {
  const state: SetupState = { users: [] };
  const run = await runSteps(setupSteps(plan, m, newPassword, state));
  return { run, state };
}

/** A rule of one of our names, made by someone else (not in the rule ledger). */
function foreignRule(name: string, over: Partial<FakeMachine['rules'][number]> = {}) {
  return {
    name,
    direction: 2,
    action: 0,
    profiles: 7,
    protocol: 256,
    remoteAddresses: '*',
    enabled: true,
    sddl: '',
    ...over,
  };
}

test('setup steps: a clean run creates everything, and a second run changes nothing', async () => {
  const m = new FakeMachine();
  const first = await setup(m);
  assert.equal(first.run.ok, true);
  // Everything is created; only the removal of an older setup's rule has nothing to do on a clean machine.
  assert.ok(
    first.run.outcomes.every((o) => o.status === (o.id === 'firewall-legacy' ? 'unchanged' : 'changed')),
    JSON.stringify(first.run.outcomes),
  );
  assert.deepEqual(
    first.state.users.map((u) => u.name),
    ['AgentSandboxOffline', 'AgentSandboxOnline'],
  );
  const offline = m.users.get('AgentSandboxOffline')!;
  assert.equal(offline.flags, 0x10041);
  assert.equal(offline.password, first.state.users[0].password, 'the password returned is the one set');
  assert.ok(m.groups.get('Users')!.members.includes(offline.sid));
  assert.ok(m.groups.get('AgentSandboxUsers')!.members.includes(offline.sid));
  assert.equal(m.rules.length, plan.firewall.length);
  const online = m.users.get('AgentSandboxOnline')!;
  for (const r of m.rules)
    assert.equal(r.sddl, `O:LSD:(A;;CC;;;${r.name.endsWith('Online') ? online.sid : offline.sid})`, r.name);
  assert.deepEqual([...m.createdRuleNames].sort(), plan.firewall.map((r) => r.name).sort(), 'every rule is ledgered');
  assert.equal(m.ledger.length, plan.grants.length);
  assert.deepEqual(m.marker, {
    version: 2,
    groupSid: m.groups.get('AgentSandboxUsers')!.sid,
    offlineSid: offline.sid,
    onlineSid: m.users.get('AgentSandboxOnline')!.sid,
  });

  const before = m.snapshot();
  const second = await setup(m);
  assert.equal(second.run.ok, true);
  assert.ok(
    second.run.outcomes.every((o) => o.status === 'unchanged'),
    JSON.stringify(second.run.outcomes),
  );
  assert.equal(m.snapshot(), before);
  assert.notEqual(second.state.users[0].password, first.state.users[0].password, 'passwords are re-keyed on every run');
  assert.equal(m.users.get('AgentSandboxOffline')!.password, second.state.users[0].password);
});

test('setup steps: each change failing in turn stops at that step, and a rerun completes to the clean state', async () => {
  const clean = new FakeMachine();
  await setup(clean);
  const total = clean.mutations;
  assert.ok(total >= 12, `expected many mutating calls, got ${total}`);
  for (let n = 1; n <= total; n++) {
    const m = new FakeMachine();
    m.failAt = n;
    const broken = await setup(m);
    const failed = broken.run.outcomes.filter((o) => o.status === 'failed');
    if (broken.run.ok) {
      // One folder of several failing is a per-folder problem, not a failed step.
      assert.match(broken.run.outcomes.flatMap((o) => o.problems).join(), /injected failure in addGrant/, `call ${n}`);
    } else {
      assert.equal(failed.length, 1);
      assert.match(failed[0].error!.code, /^setup-[a-z-]+-failed$/);
      assert.match(failed[0].error!.message, /injected failure/);
      const after = broken.run.outcomes.slice(broken.run.outcomes.indexOf(failed[0]) + 1);
      assert.ok(after.every((o) => o.status === 'skipped'));
    }
    const rerun = await setup(m);
    assert.equal(rerun.run.ok, true, `rerun after failure at call ${n}: ${JSON.stringify(rerun.run.outcomes)}`);
    assert.equal(
      m.snapshot().replace(/S-1-5-21-9-9-9-\d+/g, 'SID'),
      clean.snapshot().replace(/S-1-5-21-9-9-9-\d+/g, 'SID'),
    );
    assert.equal(m.rules.length, plan.firewall.length);
    assert.equal(m.ledger.length, plan.grants.length, 'no ACE recorded twice');
  }
});

test('setup steps: Group Policy overriding local rules fails the firewall step with its own code and fix', async () => {
  const m = new FakeMachine();
  m.modify = 'gp-override';
  const { run } = await setup(m);
  const f = run.outcomes.find((o) => o.status === 'failed')!;
  assert.equal(f.id, 'firewall-offline-not-loopback');
  assert.equal(f.error!.code, 'firewall-blocked-by-policy');
  assert.match(f.error!.fix, /Apply local firewall rules/);
  assert.equal(m.rules.length, 0);
});

test('setup steps: a rule that cannot be read back fails closed (what Wine does: getters are E_NOTIMPL)', async () => {
  const m = new FakeMachine();
  m.unreadable = true;
  const { run } = await setup(m);
  const f = run.outcomes.find((o) => o.status === 'failed')!;
  assert.equal(f.id, 'firewall-offline-not-loopback');
  assert.equal(f.error!.code, 'setup-firewall-failed');
  assert.match(f.error!.message, /reads back differently/);
});

test('setup steps: the version-1 rule (every loopback port blocked, so no proxy) is removed; control: a rule of another name stays', async () => {
  const m = new FakeMachine();
  const old = (name: string) => foreignRule(name);
  m.rules.push(old('Agent Sandbox: block outbound for AgentSandboxOffline'), old('Someone else: block outbound'));
  const { run } = await setup(m);
  assert.equal(run.ok, true);
  assert.equal(run.outcomes.find((o) => o.id === 'firewall-legacy')!.status, 'changed');
  assert.ok(!m.rules.some((r) => r.name === 'Agent Sandbox: block outbound for AgentSandboxOffline'));
  assert.ok(m.rules.some((r) => r.name === 'Someone else: block outbound'));
});

test('setup steps: a rule whose ports read back differently is replaced; the ports are compared as a set', async () => {
  const m = new FakeMachine();
  await setup(m);
  const tcp = m.rules.find((r) => r.name.includes('loopback TCP'))!;
  const wanted = tcp.remotePorts!;
  tcp.remotePorts = wanted.split(',').reverse().join(', ');
  const reordered = await setup(m);
  assert.equal(reordered.run.outcomes.find((o) => o.id === 'firewall-offline-loopback-tcp')!.status, 'unchanged');
  m.rules.find((r) => r.name.includes('loopback TCP'))!.remotePorts = '1-65535';
  const widened = await setup(m);
  assert.equal(widened.run.outcomes.find((o) => o.id === 'firewall-offline-loopback-tcp')!.status, 'changed');
  assert.equal(m.rules.find((r) => r.name.includes('loopback TCP'))!.remotePorts, wanted);
});

test('uninstall steps: a rule in the rule ledger is removed even when this version no longer plans it', async () => {
  const m = new FakeMachine();
  await setup(m);
  const gone = { ...m.rules[0], name: 'Agent Sandbox: block something an older version made' };
  m.rules.push(gone);
  m.createdRuleNames.push(gone.name);
  const run = await runAllSteps(uninstallSteps(m, m.marker));
  assert.equal(run.ok, true, JSON.stringify(run.outcomes));
  assert.deepEqual(m.rules, []);
  assert.deepEqual(m.createdRuleNames, []);
});

test('setup steps: a workspace root that refuses the grant is reported and the others are still granted', async () => {
  const m = new FakeMachine();
  m.denyPaths.add('D:\\b');
  const { run } = await setup(m);
  assert.equal(run.ok, true);
  const ws = run.outcomes.find((o) => o.id === 'grant-workspace')!;
  assert.deepEqual(ws.problems, ['D:\\b: SetNamedSecurityInfoW failed with error 5']);
  assert.equal(m.ledger.length, plan.grants.length - 1);
  m.denyPaths.add('C:\\src\\a');
  m.ledger = [];
  m.acl.clear();
  const again = await setup(m);
  assert.equal(again.run.outcomes.find((o) => o.id === 'grant-workspace')!.status, 'failed');
});

test('uninstall steps: remove everything setup created and re-query to an empty leftover list', async () => {
  const m = new FakeMachine();
  await setup(m);
  const run = await runAllSteps(uninstallSteps(m, m.marker));
  assert.equal(run.ok, true, JSON.stringify(run.outcomes));
  assert.deepEqual(await leftovers(plan.firewall, m), []);
  assert.equal(m.users.size, 0);
  assert.deepEqual(m.groups.get('Users')!.members, []);
  assert.equal(m.hidden.size, 0);
  assert.ok([...m.acl.values()].every((a) => a.length === 0));
  const again = await runAllSteps(uninstallSteps(m, undefined));
  assert.ok(again.outcomes.every((o) => o.status === 'unchanged'));
});

test('uninstall steps: an account whose SID is not the one setup recorded is left alone and reported', async () => {
  const m = new FakeMachine();
  await setup(m);
  const marker = { ...m.marker!, onlineSid: 'S-1-5-21-1-1-1-1' };
  const run = await runAllSteps(uninstallSteps(m, marker));
  assert.equal(run.ok, false);
  assert.equal(run.outcomes.find((o) => o.status === 'failed')!.id, 'user-online');
  assert.deepEqual(await leftovers(plan.firewall, m), ['account AgentSandboxOnline']);
  assert.equal(m.users.has('AgentSandboxOffline'), false, 'the other steps still ran');
});

test('setup never adopts an existing account of our name it did not create: the step fails, the password is not reset', async () => {
  const m = new FakeMachine();
  m.users.set('AgentSandboxOffline', { sid: 'S-1-5-21-7-7-7-500', priv: 1, flags: 0x10201, password: 'theirs' });
  const run = await runAllSteps(
    setupSteps(plan, m, () => 'Pw-aaaaaaaaaaaaaaaaaaaaaaaaaaa1!', { users: [] } as SetupState),
  );
  const failed = run.outcomes.find((o) => o.id === 'user-offline')!;
  assert.equal(failed.status, 'failed');
  assert.match(JSON.stringify(failed), /not created by Agent Sandbox setup/);
  assert.equal(m.users.get('AgentSandboxOffline')!.password, 'theirs');
  assert.equal(m.created.has('AgentSandboxOffline'), false);
});

test('uninstall never deletes an account or group setup did not create (no created record), and does not count it as a leftover', async () => {
  const m = new FakeMachine();
  m.users.set('AgentSandboxOnline', { sid: 'S-1-5-21-7-7-7-501', priv: 1, flags: 0, password: 'theirs' });
  m.groups.set('AgentSandboxUsers', { sid: 'S-1-5-21-7-7-7-502', members: [] });
  const run = await runAllSteps(uninstallSteps(m, undefined));
  assert.equal(m.users.has('AgentSandboxOnline'), true);
  assert.equal(m.groups.has('AgentSandboxUsers'), true);
  assert.match(JSON.stringify(run.outcomes), /was not created by Agent Sandbox setup; left alone/);
  assert.deepEqual(await leftovers(plan.firewall, m), []);
});

test('an account created by a setup that crashed before recording its SID ("pending") is still ours: adopted and later removed', async () => {
  const m = new FakeMachine();
  m.users.set('AgentSandboxOffline', { sid: 'S-1-5-21-7-7-7-600', priv: 1, flags: 0x10201, password: 'old' });
  m.created.set('AgentSandboxOffline', 'pending');
  await runAllSteps(setupSteps(plan, m, () => 'Pw-aaaaaaaaaaaaaaaaaaaaaaaaaaa1!', { users: [] } as SetupState));
  assert.equal(m.created.get('AgentSandboxOffline'), 'S-1-5-21-7-7-7-600');
  await runAllSteps(uninstallSteps(m, m.marker));
  assert.equal(m.users.has('AgentSandboxOffline'), false);
  assert.equal(m.created.size, 0, 'records go with the accounts');
});

test("uninstall reverts the setup's grants even when the group and the marker are gone (the ACL step is not skipped)", async () => {
  const m = new FakeMachine();
  await setup(m);
  const before = m.ledger.length;
  assert.ok(before > 0);
  m.groups.delete('AgentSandboxUsers');
  m.created.delete('AgentSandboxUsers');
  const run = await runAllSteps(uninstallSteps(m, undefined));
  assert.equal(run.outcomes.find((o) => o.id === 'acl')!.status, 'changed');
  assert.equal(m.ledger.length, 0);
});

test('setup refuses a same-named firewall rule it did not create (not in the rule ledger): named in the error with the fix, left as it was', async () => {
  for (const looksLikeOurs of [false, true]) {
    const m = new FakeMachine();
    const name = plan.firewall[0].name;
    if (looksLikeOurs) {
      // Even a rule identical to ours is refused: made here by a run whose rule-ledger entry is then dropped.
      await setup(m);
      m.createdRuleNames = m.createdRuleNames.filter((n) => n !== name);
    } else m.rules.push(foreignRule(name));
    const theirs = JSON.stringify(m.rules.filter((r) => r.name === name));
    const { run } = await setup(m);
    const f = run.outcomes.find((o) => o.status === 'failed');
    assert.equal(f?.id, `firewall-${plan.firewall[0].id}`, String(looksLikeOurs));
    assert.equal(f.error!.code, 'setup-firewall-rule-foreign');
    assert.ok(f.error!.message.includes(`"${name}"`), f.error!.message);
    assert.match(f.error!.fix, /Remove or rename the firewall rule/);
    assert.ok(f.error!.fix.includes(name));
    assert.equal(JSON.stringify(m.rules.filter((r) => r.name === name)), theirs, 'their rule is untouched');
    assert.ok(!m.createdRuleNames.includes(name), 'and never ledgered as ours');
  }
});

test('setup replaces a rule of our name that the rule ledger lists (control for the refusal above)', async () => {
  const m = new FakeMachine();
  const name = plan.firewall[0].name;
  m.rules.push(foreignRule(name));
  m.createdRuleNames.push(name);
  const { run } = await setup(m);
  assert.equal(run.ok, true, JSON.stringify(run.outcomes));
  assert.equal(run.outcomes.find((o) => o.id === `firewall-${plan.firewall[0].id}`)!.status, 'changed');
  assert.equal(m.rules.filter((r) => r.name === name).length, 1);
  assert.notEqual(m.rules.find((r) => r.name === name)!.sddl, '');
});

test('uninstall never removes a same-named firewall rule setup did not create, nor counts it as a leftover', async () => {
  const m = new FakeMachine();
  await setup(m);
  const name = plan.firewall[1].name;
  // Someone else's rule of that name (ours was removed by hand, and theirs took its place).
  m.rules = m.rules.filter((r) => r.name !== name);
  m.createdRuleNames = m.createdRuleNames.filter((n) => n !== name);
  m.rules.push(foreignRule(name));
  const run = await runAllSteps(uninstallSteps(m, m.marker));
  assert.equal(run.ok, true, JSON.stringify(run.outcomes));
  assert.deepEqual(
    m.rules.map((r) => r.name),
    [name],
    'only theirs is left',
  );
  assert.deepEqual(await leftovers(plan.firewall, m), []);
});
