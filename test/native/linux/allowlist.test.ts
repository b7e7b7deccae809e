/**
 * The network allowlist end to end on Linux, through the real sandbox (bubblewrap, the runner's relay, seccomp,
 * Landlock) and the real host-side proxy. No internet: the `.test` names are pinned to local listeners through the
 * proxy's resolver (AGENT_SANDBOX_RESOLVE for the CLI, an injected resolver for the backend). Each refusal is
 * judged by its effect on the host (did a connection arrive?) and has a control that shows the test can fail.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configureSharedProxy, proxySocketDir } from '../../../src/network/shared';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import type { NetworkDenial } from '../../../src/sandbox/types';
import { cliRun, startListeners, startRegistry, type Listeners } from './allowlist-fixtures';
import { hostDir, NODE, plan, run, sh, STATE_DIR, tempDir } from './helpers';

const CLIENT = path.join(__dirname, 'allowlist-client.js');

describe('network allowlist (linux, real sandbox and proxy)', () => {
  let l: Listeners;
  before(async () => {
    l = await startListeners();
  });
  after(async () => {
    configureSharedProxy({});
    await l.close();
  });

  it('CLI: curl through the environment reaches allowed.test over HTTPS; denied.test fails with the blocked line', async () => {
    const ok = await cliRun(
      [
        '--network',
        'allowlist',
        '--allow-domain',
        'allowed.test',
        '--',
        'curl',
        '-sS',
        '--cacert',
        l.caFile,
        `https://allowed.test:${l.tlsPort}/`,
      ],
      l.dir,
    );
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, `hello from allowed.test:${l.tlsPort}\n`);
    assert.doesNotMatch(ok.stderr, /blocked/);
    const refused = await cliRun(
      [
        '--network',
        'allowlist',
        '--allow-domain',
        'allowed.test',
        '--',
        'curl',
        '-sS',
        '--cacert',
        l.caFile,
        `https://denied.test:${l.tlsPort}/`,
      ],
      l.dir,
    );
    assert.notEqual(refused.status, 0);
    assert.equal(refused.stdout, '');
    assert.ok(
      refused.stderr.includes(
        `agent-sandbox: blocked denied.test:${l.tlsPort} — not in the allowlist; allow it with ` +
          '--allow-domain denied.test',
      ),
      refused.stderr,
    );
  });

  it('CLI --json carries the blocked list; deniedDomains wins over allowedDomains', async () => {
    const r = await cliRun(
      [
        '--network',
        'allowlist',
        '--allow-domain',
        'allowed.test',
        '--allow-domain',
        'denied.test',
        '--deny-domain',
        'denied.test',
        '--json',
        '--',
        'sh',
        '-c',
        `curl -sS --cacert ${l.caFile} https://allowed.test:${l.tlsPort}/ && curl -sS --cacert ${l.caFile} https://denied.test:${l.tlsPort}/`,
      ],
      l.dir,
    );
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, `hello from allowed.test:${l.tlsPort}\n`);
    const line = r.stderr.split('\n').find((s) => s.startsWith('{"agentSandbox"'));
    assert.ok(line, r.stderr);
    const blocked = JSON.parse(line).agentSandbox.blocked as NetworkDenial[];
    assert.deepEqual(
      blocked.map((b) => [b.host, b.port, b.reason]),
      [['denied.test', l.tlsPort, 'denied']],
    );
  });

  it('Node clients: a CONNECT tunnel (HTTPS_PROXY) and plain-HTTP forwarding (HTTP_PROXY); refused names fail', async () => {
    const script = [
      `${NODE} ${CLIENT} connect allowed.test ${l.tlsPort} ${l.caFile}`,
      `${NODE} ${CLIENT} forward allowed.test ${l.httpPort}`,
      `${NODE} ${CLIENT} connect denied.test ${l.tlsPort} ${l.caFile}`,
      `${NODE} ${CLIENT} forward denied.test ${l.httpPort}`,
    ].join('; ');
    const r = await cliRun(
      ['--network', 'allowlist', '--allow-domain', 'allowed.test', '--', 'sh', '-c', script],
      l.dir,
    );
    assert.deepEqual(
      r.stdout.trim().split('\n'),
      [
        `OK hello from allowed.test:${l.tlsPort}`,
        `OK hello from allowed.test:${l.httpPort}`,
        'FAILED proxy said 403',
        `FAILED proxy said 403: agent-sandbox: blocked denied.test:${l.httpPort}: not in the allowlist`,
      ],
      r.stderr,
    );
  });

  it("SOCKS5 with remote resolution: curl (ALL_PROXY socks5h) and Node's socks client; refused names fail", async () => {
    const script = [
      `curl -sS --cacert ${l.caFile} --proxy "$ALL_PROXY" https://allowed.test:${l.tlsPort}/`,
      `${NODE} ${CLIENT} socks allowed.test ${l.tlsPort} ${l.caFile}`,
      `${NODE} ${CLIENT} socks denied.test ${l.tlsPort} ${l.caFile}`,
      `curl -sS --cacert ${l.caFile} --proxy "$ALL_PROXY" https://denied.test:${l.tlsPort}/ || echo curl-refused`,
    ].join('; ');
    const r = await cliRun(
      ['--network', 'allowlist', '--allow-domain', 'allowed.test', '--', 'sh', '-c', script],
      l.dir,
    );
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], `hello from allowed.test:${l.tlsPort}`, r.stderr);
    assert.equal(lines[1], `OK hello from allowed.test:${l.tlsPort}`);
    assert.equal(lines[2], 'FAILED Socks5 proxy rejected connection - NotAllowed');
    assert.equal(lines[3], 'curl-refused');
    assert.match(r.stderr, new RegExp(`blocked denied.test:${l.tlsPort} — not in the allowlist`));
  });

  it('git goes through the proxy from GIT_CONFIG_* alone (no config file written); a refused host fails with the blocked line', async () => {
    const ws = tempDir('as-git-');
    const before = l.requests.length;
    const ok = await cliRun(
      [
        '--network',
        'allowlist',
        '--allow-domain',
        'allowed.test',
        '--',
        'sh',
        '-c',
        `git config --get http.proxy | sed 's/:[^:@]*@/:***@/'; git ls-remote http://allowed.test:${l.httpPort}/repo.git; echo git=$?`,
      ],
      ws,
    );
    assert.match(ok.stdout, /^http:\/\/cmd[0-9a-f]+:\*\*\*@127\.0\.0\.1:3128$/m, ok.stdout + ok.stderr);
    assert.ok(
      l.requests.slice(before).some((r) => r.startsWith(`allowed.test:${l.httpPort} /repo.git/info/refs`)),
      `the listener saw no git request through the proxy: ${l.requests.slice(before).join(', ')}`,
    );
    // No config file anywhere in the workspace (the placeholders for protected paths went with the sandbox).
    assert.deepEqual(fs.readdirSync(ws), [], 'a file was written');
    const refused = await cliRun(
      [
        '--network',
        'allowlist',
        '--allow-domain',
        'allowed.test',
        '--',
        'git',
        'ls-remote',
        `http://denied.test:${l.httpPort}/repo.git`,
      ],
      ws,
    );
    assert.notEqual(refused.status, 0);
    assert.ok(
      refused.stderr.includes(`agent-sandbox: blocked denied.test:${l.httpPort} — not in the allowlist`),
      refused.stderr,
    );
  });

  it("bypass attempts are refused and no connection reaches the host (direct TCP ignoring the proxy, UDP, DNS, TCP bind, the relay without a credential); control: online sharing the host's network reaches it", async () => {
    const probe = `
      const net = require('net'), dgram = require('dgram'), dns = require('dns');
      const out = [];
      const done = (k, v) => { out.push(k + '=' + v); if (out.length === 5) console.log(out.sort().join(' ')); };
      net.connect(${l.rawPort}, '127.0.0.1').on('connect', () => done('tcp', 'CONNECTED')).on('error', (e) => done('tcp', e.code));
      const u = dgram.createSocket('udp4'); u.on('error', (e) => done('udp', e.code));
      u.send('x', ${l.rawPort}, '127.0.0.1', (e) => { if (!e) done('udp', 'SENT'); u.close(); });
      dns.resolve4('allowed.test', (e) => done('dns', e ? e.code : 'RESOLVED'));
      net.createServer().listen(4444, '127.0.0.1').on('listening', function () { done('bind', 'LISTENING'); this.close(); }).on('error', (e) => done('bind', e.code));
      const r = net.connect(3128, '127.0.0.1', () => r.write('CONNECT allowed.test:${l.tlsPort} HTTP/1.1\\r\\n\\r\\n'));
      r.on('data', (d) => { done('relay', String(d).split(' ')[1]); r.destroy(); }).on('error', (e) => done('relay', e.code));`;
    const probeFile = path.join(l.dir, 'bypass.js');
    fs.writeFileSync(probeFile, probe);
    const before = l.rawConnections();
    const r = await cliRun(
      [
        '--network',
        'allowlist',
        '--allow-domain',
        'allowed.test',
        '--',
        'sh',
        '-c',
        `curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:${l.rawPort}/ ; echo curl=$?; ${NODE} ${probeFile}`,
      ],
      l.dir,
    );
    assert.match(r.stdout, /curl=7\n/, r.stderr);
    const results = r.stdout.split('\n').find((s) => s.startsWith('bind='));
    assert.ok(results, r.stdout + r.stderr);
    assert.match(results, /bind=EACCES/);
    assert.match(results, /dns=E(CONNREFUSED|AI_AGAIN|NOTFOUND|TIMEOUT|AFNOSUPPORT)|dns=ECONNREFUSED/);
    assert.match(results, /relay=407/);
    assert.match(results, /tcp=EACCES/);
    assert.match(results, /udp=EAFNOSUPPORT/);
    assert.equal(l.rawConnections(), before, 'a connection reached the host listener');
    assert.match(r.stderr, /agent-sandbox: blocked a connection — bypass attempt/);
    // Control: the same direct connection online, sharing the host's network (allowHostLoopback), does reach it.
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: false });
    try {
      const online = await run(
        backend,
        plan({ workspaceRoots: [l.dir], network: 'online', allowHostLoopback: true }),
        sh(`curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:${l.rawPort}/ ; echo curl=$?`),
      );
      assert.match(online.stdout, /curl=(52|56)\n/, online.stderr);
    } finally {
      await backend.dispose();
    }
    assert.ok(l.rawConnections() > before, 'control: the online connection did not arrive');
  });

  it('DNS rebinding: an allowed name that DNS resolves to loopback is refused; allowed literally, it passes', async () => {
    // A fake DNS (not a pin): rebind.test "resolves" to 127.0.0.1.
    configureSharedProxy({ resolver: async () => [{ address: '127.0.0.1', family: 4, pinned: false }] });
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: false });
    try {
      const ws = l.dir;
      const curl = sh(`curl -sS --cacert ${l.caFile} https://rebind.test:${l.tlsPort}/`);
      const refusedProc = await backend.spawn(
        plan({ workspaceRoots: [ws], network: 'allowlist', allowedDomains: ['rebind.test'] }),
        { argv: curl, cwd: ws, stdio: 'pipe' },
      );
      refusedProc.stdin?.end();
      await refusedProc.exited;
      const d = refusedProc.networkDenials?.() ?? [];
      assert.deepEqual(
        d.map((x) => [x.host, x.reason, x.grant]),
        [['rebind.test', 'private-address', `127.0.0.1:${l.tlsPort}`]],
      );
      const ok = await run(
        backend,
        plan({ workspaceRoots: [ws], network: 'allowlist', allowedDomains: ['rebind.test', `127.0.0.1:${l.tlsPort}`] }),
        curl,
      );
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, `hello from rebind.test:${l.tlsPort}\n`);
    } finally {
      configureSharedProxy({});
      await backend.dispose();
    }
  });

  it("concurrent commands with different grants: one command's grant does not open the domain to the other", async () => {
    configureSharedProxy({ resolver: async () => [{ address: '127.0.0.1', family: 4, pinned: true }] });
    const backend = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const ws = l.dir;
      const p = plan({ workspaceRoots: [ws], network: 'allowlist', allowedDomains: ['allowed.test'] });
      const loop = (name: string) =>
        sh(
          `for i in 1 2 3 4 5; do curl -sS --cacert ${l.caFile} https://${name}:${l.tlsPort}/ || echo refused; ` +
            // the other command's credential, if this one could see it anywhere
            `grep -la granted /proc/[0-9]*/environ 2>/dev/null | head -1; sleep 0.2; done`,
        );
      const [a, b] = await Promise.all([
        run(backend, p, loop('granted.test'), { allowDomains: ['granted.test'] }),
        run(backend, p, loop('granted.test')),
      ]);
      assert.equal(
        a.stdout.split('\n').filter((s) => s === `hello from granted.test:${l.tlsPort}`).length,
        5,
        a.stdout + a.stderr,
      );
      assert.equal(b.stdout.split('\n').filter((s) => s === 'refused').length, 5, b.stdout + b.stderr);
      assert.doesNotMatch(b.stdout, /hello from granted/);
      assert.doesNotMatch(b.stdout, /\/proc\//, "the ungranted command could see the granted one's environment");
      // The plan's own allowlist still works for the command without grants.
      const c = await run(backend, p, sh(`curl -sS --cacert ${l.caFile} https://allowed.test:${l.tlsPort}/`));
      assert.equal(c.stdout, `hello from allowed.test:${l.tlsPort}\n`, c.stderr);
    } finally {
      configureSharedProxy({});
      await backend.dispose();
    }
  });

  it("no sandbox sees the proxy's socket folder: another sandbox's gateway cannot even be tried (offline and allowlist); control: it is there on the host", async () => {
    configureSharedProxy({ resolver: async () => [{ address: '127.0.0.1', family: 4, pinned: true }] });
    // A state folder outside /tmp (which every sandbox replaces anyway), as a user's real one is.
    const stateDir = hostDir('as-allow-state-');
    const backend = createLinuxBackend({ stateDir, broker: false });
    try {
      const ws = l.dir;
      const p = plan({ workspaceRoots: [ws], network: 'allowlist', allowedDomains: ['allowed.test'] });
      // A long-running allowlist command holds its gateway open; find it on the host.
      const holder = await backend.spawn(p, { argv: sh('sleep 20'), cwd: ws, stdio: 'pipe' });
      holder.stdin?.end();
      const base = proxySocketDir(stateDir);
      const gw = fs.readdirSync(base).find((n) => fs.existsSync(path.join(base, n, 'http.sock')));
      assert.ok(gw, "control: the holder's gateway socket exists on the host");
      const sock = path.join(base, gw, 'http.sock');
      const probe = sh(
        `ls -A '${base}' | wc -l; ${NODE} -e "require('net').connect('${sock}').on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => console.log(e.code))"`,
      );
      for (const q of [plan({ workspaceRoots: [ws] }), p]) {
        const r = await run(backend, q, probe);
        assert.deepEqual(r.stdout.trim().split('\n'), ['0', 'ENOENT'], `${q.network}: ${r.stdout}${r.stderr}`);
      }
      holder.kill();
      await holder.exited;
    } finally {
      configureSharedProxy({});
      await backend.dispose();
    }
  });

  it('npm install from a local registry through the proxy: allowed, it installs; refused, it fails with the blocked line', async () => {
    const registry = await startRegistry('registry.test');
    try {
      const npmArgs = (ws: string) => [
        'npm',
        'install',
        'tiny',
        '--registry',
        `http://registry.test:${registry.port}/`,
        '--cache',
        path.join(ws, '.npm-cache'),
        '--no-audit',
        '--no-fund',
        '--no-update-notifier',
        '--fetch-retries',
        '0',
      ];
      const ws = tempDir('as-npm-');
      fs.writeFileSync(path.join(ws, 'package.json'), '{"name":"app","version":"1.0.0"}');
      const ok = await cliRun(['--network', 'allowlist', '--allow-domain', 'registry.test', '--', ...npmArgs(ws)], ws);
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal(
        fs.readFileSync(path.join(ws, 'node_modules', 'tiny', 'index.js'), 'utf8'),
        'module.exports = "tiny";\n',
      );
      const ws2 = tempDir('as-npm-');
      fs.writeFileSync(path.join(ws2, 'package.json'), '{"name":"app","version":"1.0.0"}');
      const refused = await cliRun(
        ['--network', 'allowlist', '--allow-domain', 'allowed.test', '--', ...npmArgs(ws2)],
        ws2,
      );
      assert.notEqual(refused.status, 0);
      assert.equal(fs.existsSync(path.join(ws2, 'node_modules', 'tiny')), false);
      assert.ok(
        refused.stderr.includes(
          `agent-sandbox: blocked registry.test:${registry.port} — not in the allowlist; allow it with ` +
            '--allow-domain registry.test',
        ),
        refused.stderr,
      );
    } finally {
      await registry.close();
    }
  });

  it('the relay starts inside the sandbox only in allowlist mode (offline has no listener on the relay port)', async () => {
    const r = await cliRun(
      ['--network', 'offline', '--', 'curl', '-sS', '--max-time', '3', '--noproxy', '*', 'http://127.0.0.1:3128/'],
      tempDir('as-off-'),
    );
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout, /agent-sandbox proxy/);
  });
});
