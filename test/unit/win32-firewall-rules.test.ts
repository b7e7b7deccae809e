// The elevated firewall rule set as data: which flows of each sandbox account the rules cover, judged by evaluating
// the rules' scopes (addresses, protocol, ports) the way Windows Firewall matches them, with node's BlockList for
// the address ranges. Windows enforcement itself is not checked here (it cannot be on this machine): Verify does
// that on a real Windows machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList, isIPv6 } from 'node:net';
import {
  LEGACY_FIREWALL_RULE_NAMES,
  proxyPortPair,
  sandboxFirewallRules,
  WINDOWS_PROXY_PORTS,
} from '../../src/policy/compile-win32';
import type { FirewallRuleSpec, Network } from '../../src/policy';
import { buildSetupPlan, FW_PROTOCOL } from '../../src/sandbox/windows/setup/setup-plan';
import { renderPlan } from '../../src/policy/render';
import { elevatedPlan, HOME } from './win32-elevated-plan-fixture';

type Proto = 'tcp' | 'udp' | 'icmpv4' | 'icmpv6';

function addressMatches(list: string, ip: string): boolean {
  if (list === '*') return true;
  const b = new BlockList();
  const type = isIPv6(ip) ? 'ipv6' : 'ipv4';
  for (const part of list.split(',')) {
    const [lo, hi] = part.split('-');
    const t = isIPv6(lo) ? 'ipv6' : 'ipv4';
    if (hi) b.addRange(lo, hi, t);
    else if (lo.includes('/')) b.addSubnet(lo.split('/')[0], Number(lo.split('/')[1]), t);
    else b.addAddress(lo, t);
  }
  return b.check(ip, type);
}

function portMatches(list: string | undefined, port: number): boolean {
  if (list === undefined) return true;
  return list.split(',').some((p) => {
    const [lo, hi] = p.split('-').map(Number);
    return port >= lo && port <= (hi ?? lo);
  });
}

/** The rules that block this flow of this account (Windows: any matching block rule wins). */
function blockedBy(rules: FirewallRuleSpec[], user: Network, proto: Proto, ip: string, port = 0): string[] {
  return rules
    .filter(
      (r) =>
        r.user.kind === 'sandbox-user' &&
        r.user.network === user &&
        (r.protocol === undefined || r.protocol === proto) &&
        addressMatches(r.remoteAddresses, ip) &&
        (proto === 'tcp' || proto === 'udp' ? portMatches(r.remotePorts, port) : r.remotePorts === undefined),
    )
    .map((r) => r.id);
}

const rules = sandboxFirewallRules();
const first = WINDOWS_PROXY_PORTS.first;
const last = first + 2 * WINDOWS_PROXY_PORTS.pairs - 1;

test('firewall rules: the offline account is blocked to every non-loopback address, every protocol', () => {
  for (const ip of ['0.0.0.0', '8.8.8.8', '10.0.0.5', '126.255.255.255', '128.0.0.1', '255.255.255.255'])
    for (const proto of ['tcp', 'udp', 'icmpv4'] as const)
      assert.ok(blockedBy(rules, 'offline', proto, ip, 443).length, `${proto} ${ip}`);
  for (const ip of ['::', '::2', '2001:db8::1', 'fe80::1', 'ff02::1', '::ffff:8.8.8.8'])
    assert.ok(blockedBy(rules, 'offline', 'tcp', ip, first).length, ip);
});

test('firewall rules: offline loopback is blocked except TCP to the proxy port pairs', () => {
  for (const ip of ['127.0.0.1', '127.1.2.3', '::1']) {
    for (let port = first; port <= last; port++)
      assert.deepEqual(blockedBy(rules, 'offline', 'tcp', ip, port), [], `${ip}:${port} is left for the proxy`);
    for (const port of [1, 22, 53, 80, 443, 3128, first - 1, last + 1, 65535])
      assert.ok(blockedBy(rules, 'offline', 'tcp', ip, port).length, `tcp ${ip}:${port}`);
    for (const port of [53, first, 65535]) assert.ok(blockedBy(rules, 'offline', 'udp', ip, port).length, `udp ${ip}`);
  }
  // Control: the evaluator does find an open flow when one exists (the online account's plain HTTPS).
  assert.deepEqual(blockedBy(rules, 'online', 'tcp', '8.8.8.8', 443), []);
});

test('firewall rules: every port pair the proxy may listen on is inside the range the firewall leaves open', () => {
  for (let i = 0; i < WINDOWS_PROXY_PORTS.pairs; i++) {
    const { httpPort, socksPort } = proxyPortPair(i);
    assert.ok(httpPort >= first && socksPort <= last && socksPort === httpPort + 1);
  }
});

test('firewall rules: DNS (53/853 TCP and UDP), ICMP and SMB (139/445) are blocked for the offline account; SMB only for the online one', () => {
  for (const user of ['offline'] as const) {
    for (const proto of ['tcp', 'udp'] as const)
      for (const port of [53, 853])
        assert.ok(blockedBy(rules, user, proto, '1.1.1.1', port).length, `${user} ${proto}/${port}`);
    assert.ok(blockedBy(rules, user, 'icmpv4', '8.8.8.8').length, `${user} icmpv4`);
    assert.ok(blockedBy(rules, user, 'icmpv6', '2001:db8::1').length, `${user} icmpv6`);
    for (const port of [139, 445])
      assert.ok(blockedBy(rules, user, 'tcp', '10.0.0.5', port).length, `${user} smb ${port}`);
  }
  const purposes = new Set(
    rules.filter((r) => r.user.kind === 'sandbox-user' && r.user.network === 'online').map((r) => r.purpose),
  );
  assert.deepEqual([...purposes].sort(), ['smb'], 'the online account gets only the SMB block');
  for (const port of [139, 445])
    assert.ok(blockedBy(rules, 'online', 'tcp', '10.0.0.5', port).length, `online smb ${port}`);
  // Control: online DNS and ping stay open.
  assert.deepEqual(blockedBy(rules, 'online', 'udp', '1.1.1.1', 53), []);
  assert.deepEqual(blockedBy(rules, 'online', 'icmpv4', '8.8.8.8'), []);
});

test('firewall rules: setup writes them with the protocol numbers and ports COM takes, ports only with TCP or UDP', () => {
  const setup = buildSetupPlan({ home: HOME }).firewall;
  assert.equal(setup.length, rules.length);
  for (const [i, r] of setup.entries()) {
    const spec = rules[i];
    assert.equal(r.id, spec.id);
    assert.equal(r.protocol, spec.protocol ? FW_PROTOCOL[spec.protocol] : 256, r.name);
    assert.equal(r.remotePorts, spec.remotePorts, r.name);
    if (r.remotePorts !== undefined) assert.ok(r.protocol === 6 || r.protocol === 17, r.name);
  }
  assert.ok(!setup.some((r) => LEGACY_FIREWALL_RULE_NAMES.includes(r.name)), 'the version-1 rule is not re-created');
});

test('firewall rules: a ports scope without TCP or UDP is refused when setup plans the rule', () => {
  const p = elevatedPlan(['C:\\src\\app']);
  const bad = { ...p, firewall: [{ ...p.firewall[0], protocol: 'icmpv4' as const, remotePorts: '53' }] };
  assert.throws(() => buildSetupPlan({ plan: bad, home: HOME }), /scopes ports without TCP or UDP/);
});

test('firewall rules: every elevated plan carries the same machine-wide rules; unelevated none', () => {
  for (const network of ['offline', 'allowlist', 'online'] as const) {
    const p = elevatedPlan(['C:\\src\\app'], {}, { network, allowedDomains: ['example.org'] });
    assert.deepEqual(p.firewall, rules, network);
  }
  assert.deepEqual(elevatedPlan(['C:\\src\\app'], { windowsMode: 'unelevated' }).firewall, []);
});

test('firewall rules: the plan says what enforces the allowlist and what DNS/SMB traffic is not covered', () => {
  const allow = elevatedPlan(['C:\\src\\app'], {}, { network: 'allowlist', allowedDomains: ['example.org'] });
  assert.match(allow.allowlist!.enforcement, /Windows Firewall block rules/);
  assert.match(allow.allowlist!.enforcement, new RegExp(`${first}-${last}`));
  assert.match(allow.allowlist!.enforcement, /Not covered: DNS/);
  assert.doesNotMatch(allow.allowlist!.enforcement, /planned|not run yet/);
  assert.match(allow.allowlist!.endpoint.http, new RegExp(String(first)));
  assert.ok(allow.warnings.some((w) => /DNS Client service/.test(w) && /redirector/.test(w)));
  const offline = elevatedPlan(['C:\\src\\app'], {}, { network: 'offline' });
  assert.ok(
    offline.warnings.some((w) => w.includes(`${first}-${last}`)),
    'offline says the proxy ports stay open',
  );
  const online = elevatedPlan(['C:\\src\\app'], {}, { network: 'online' });
  assert.ok(!online.warnings.some((w) => /DNS Client service/.test(w)));
  const text = renderPlan(allow);
  assert.match(
    text,
    /block loopback TCP for AgentSandboxOffline: out block for AgentSandboxOffline, tcp to 127\.0\.0\.0\/8,::1 ports 1-/,
  );
  assert.match(text, /icmpv6 to \*/);
});
