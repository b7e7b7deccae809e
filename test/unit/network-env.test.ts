/**
 * The environment that points a sandboxed command's clients at the proxy (with its own credential), the CLI's
 * allowlist flags, and the narrowing rule for workspace domain settings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LINUX_RELAY, proxyEnv } from '../../src/policy/proxy-env';
import { policyFlags, UsageError } from '../../src/cli/args';
import { denialLine } from '../../src/network/denial-text';
import { effectiveSettings } from '../../src/vscode/settings-policy';
import { formatToolResult } from '../../src/vscode/run-result';

describe('proxy environment', () => {
  const cred = { user: 'cmdabc', password: 'p/w+=' };
  it("every common client gets the proxy with this command's credential (URL-encoded); NO_PROXY is empty; git through GIT_CONFIG_*", () => {
    const env = proxyEnv(LINUX_RELAY, cred, 'linux');
    const http = 'http://cmdabc:p%2Fw%2B%3D@127.0.0.1:3128';
    for (const k of [
      'HTTP_PROXY',
      'HTTPS_PROXY',
      'http_proxy',
      'https_proxy',
      'npm_config_proxy',
      'npm_config_https_proxy',
      'YARN_HTTP_PROXY',
      'YARN_HTTPS_PROXY',
      'PIP_PROXY',
      'CARGO_HTTP_PROXY',
      'GIT_CONFIG_VALUE_0',
    ]) {
      assert.equal(env[k], http, k);
    }
    assert.equal(env.ALL_PROXY, 'socks5h://cmdabc:p%2Fw%2B%3D@127.0.0.1:1080');
    assert.equal(env.all_proxy, env.ALL_PROXY);
    assert.equal(env.NO_PROXY, '');
    assert.equal(env.no_proxy, '');
    assert.deepEqual([env.GIT_CONFIG_COUNT, env.GIT_CONFIG_KEY_0], ['1', 'http.proxy']);
    assert.equal(env.NODE_USE_ENV_PROXY, '1');
  });

  it('Windows gets one spelling of each (its variable names are case-insensitive)', () => {
    const env = proxyEnv(LINUX_RELAY, cred, 'win32');
    assert.equal(env.http_proxy, undefined);
    assert.ok(env.HTTP_PROXY);
  });
});

describe('CLI allowlist flags', () => {
  it('--allow-domain needs --network allowlist; allowlist is a valid --network', () => {
    assert.throws(
      () => policyFlags({ 'allow-domain': ['x.org'] }),
      (e: Error) => e instanceof UsageError && /need --network allowlist/.test(e.message),
    );
    assert.deepEqual(
      policyFlags({ network: 'allowlist', 'allow-domain': ['x.org'], 'deny-domain': ['y.org'] }).allowDomain,
      ['x.org'],
    );
  });

  it('blocked-host lines name the host, the reason and the exact grant', () => {
    const d = {
      time: '',
      command: 'curl',
      host: 'example.org',
      port: 443,
      reason: 'not-allowed' as const,
      message: 'not in the allowlist',
      grant: 'example.org',
    };
    assert.equal(
      denialLine(d, (g) => `--allow-domain ${g}`),
      'blocked example.org:443 — not in the allowlist; allow it with --allow-domain example.org',
    );
    assert.equal(
      denialLine(
        { ...d, reason: 'denied', message: 'denied by the deniedDomains entry "example.org"', grant: undefined },
        (g) => g,
      ),
      'blocked example.org:443 — denied: denied by the deniedDomains entry "example.org"; deniedDomains wins over every grant',
    );
  });
});

describe('domain settings from the workspace (trusted or not)', () => {
  it("workspace allowedDomains are ignored; workspace deniedDomains add to the user's", () => {
    const values: Record<string, object> = {
      allowedDomains: { globalValue: ['a.org'], workspaceValue: ['evil.org'] },
      deniedDomains: { globalValue: ['b.org'], workspaceValue: ['c.org'] },
      network: { globalValue: 'allowlist', workspaceValue: 'online' },
    };
    const s = effectiveSettings((k) => values[k]);
    assert.deepEqual(s.allowedDomains, ['a.org']);
    assert.deepEqual(s.deniedDomains, ['b.org', 'c.org']);
    assert.equal(s.network, 'allowlist');
  });
});

describe('tool result', () => {
  it('lists blocked hosts with the exact grant to ask for', () => {
    const text = formatToolResult({
      exitCode: 1,
      stdout: '',
      stderr: '',
      durationMs: 1,
      timedOut: false,
      denials: [],
      policy: 'p',
      blocked: [
        {
          time: '',
          command: 'npm ci',
          host: 'registry.npmjs.org',
          port: 443,
          reason: 'not-allowed',
          message: 'not in the allowlist',
          grant: 'registry.npmjs.org',
        },
      ],
    });
    assert.match(
      text,
      /Blocked connections \(network allowlist; do not retry the same command, ask for the grant named\):\n- blocked registry\.npmjs\.org:443 — not in the allowlist; allow it with allowDomains: \["registry\.npmjs\.org"\] \(the user will be asked\)/,
    );
  });
});
