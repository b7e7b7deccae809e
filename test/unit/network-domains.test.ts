/**
 * Allowlist entries: validation messages (field-free here; the schema adds the field), preset expansion, and the
 * matching rules: exact, `*.suffix` (not the apex), ports, IP literals only literally, deny wins, empty allows none.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicy } from '../../src/policy';
import { nonPublicRange } from '../../src/policy/addresses';
import {
  addressAllowedLiterally,
  decideDomain,
  domainProblem,
  expandDomains,
  parseDomainRules,
} from '../../src/policy/domains';

const rules = (xs: string[]) => parseDomainRules(xs);
const ok = (allow: string[], host: string, port = 443, deny: string[] = []) =>
  decideDomain(rules(allow), rules(deny), host, port).ok;

describe('domain entries', () => {
  it('valid entries pass; each invalid one is refused with its fix', () => {
    for (const e of [
      'example.org',
      '*.example.org',
      'example.org:443',
      '127.0.0.1',
      '[::1]:8080',
      '::1',
      'localhost',
      '@npm',
      'a_b.example.org',
    ]) {
      assert.equal(domainProblem(e), undefined, e);
    }
    const cases: [string, RegExp][] = [
      ['https://example.org/x', /is a URL\. Name the host only, like "example\.org"/],
      ['@nope', /not a known preset\. Presets: @npm, @pypi, @crates, @go, @github/],
      ['*', /every host.*online/],
      ['*.org', /whole top-level domain/],
      ['ex*ample.org', /"\*" is allowed only as the whole first label/],
      ['example.org:70000', /port must be 1-65535/],
      ['exa mple.org', /space or a path/],
      ['-bad.example.org', /not a valid host name/],
    ];
    for (const [e, re] of cases) assert.match(domainProblem(e) ?? '', re, e);
  });

  it('the policy schema names the field, the value and the fix', () => {
    assert.throws(
      () => parsePolicy({ network: 'allowlist', allowedDomains: ['example.org', 'https://x.org'] }),
      /allowedDomains\.1 \(got "https:\/\/x\.org"\): "https:\/\/x\.org" is a URL\. Name the host only, like "x\.org"/,
    );
    assert.throws(() => parsePolicy({ deniedDomains: ['*'] }), /deniedDomains\.0 \(got "\*"\)/);
  });

  it('presets expand in order, without duplicates', () => {
    assert.deepEqual(expandDomains(['@pypi', 'pypi.org', 'x.org']), ['pypi.org', 'files.pythonhosted.org', 'x.org']);
  });
});

describe('domain matching', () => {
  it('an empty allowlist allows nothing', () => {
    assert.equal(ok([], 'example.org'), false);
  });

  it('exact hosts match case-insensitively and with a trailing dot; not subdomains', () => {
    assert.equal(ok(['example.org'], 'EXAMPLE.org.'), true);
    assert.equal(ok(['example.org'], 'www.example.org'), false);
    assert.equal(ok(['example.org'], 'example.org.evil.com'), false);
    assert.equal(ok(['example.org'], 'badexample.org'), false);
  });

  it('a wildcard matches names below its suffix, never the suffix itself or an IP literal', () => {
    assert.equal(ok(['*.example.org'], 'a.b.example.org'), true);
    assert.equal(ok(['*.example.org'], 'example.org'), false);
    assert.equal(ok(['*.example.org'], 'evilexample.org'), false);
    assert.equal(ok(['*.0.0.1'], '127.0.0.1'), false);
  });

  it('a port restricts the entry to that port; without one every port matches', () => {
    assert.equal(ok(['example.org:443'], 'example.org', 443), true);
    assert.equal(ok(['example.org:443'], 'example.org', 22), false);
    assert.equal(ok(['example.org'], 'example.org', 22), true);
  });

  it('deny wins over allow', () => {
    const v = decideDomain(rules(['*.example.org']), rules(['secret.example.org']), 'secret.example.org', 443);
    assert.deepEqual([v.ok, !v.ok && v.reason], [false, 'denied']);
  });

  it('IP literals match only when listed, in canonical form', () => {
    assert.equal(ok(['[::1]'], '0:0:0:0:0:0:0:1'), true);
    assert.equal(ok(['127.0.0.1:8080'], '127.0.0.1', 8080), true);
    assert.equal(ok(['example.org'], '127.0.0.1'), false);
    assert.equal(addressAllowedLiterally(rules(['127.0.0.1:8080']), '::ffff:127.0.0.1', 8080), true);
    assert.equal(addressAllowedLiterally(rules(['127.0.0.1:8080']), '127.0.0.1', 9090), false);
    assert.equal(addressAllowedLiterally(rules(['localhost']), '127.0.0.1', 80), false);
  });

  it('non-public ranges: loopback, private, link-local, CGNAT, unique local, IPv4-mapped; public unicast passes', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '192.168.1.1',
      '172.16.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:10.0.0.1',
      '0.0.0.0',
    ]) {
      assert.notEqual(nonPublicRange(a), undefined, a);
    }
    for (const a of ['93.184.216.34', '2606:4700::1111']) assert.equal(nonPublicRange(a), undefined, a);
  });
});
