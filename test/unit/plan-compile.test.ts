import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePlan, type CompileContext, type LinuxPlan, type Win32Plan } from '../../src/policy';
import { DENY_WRITE_MASK, WRITABLE_ROOT_MASK } from '../../src/policy/compile-win32';
import { SandboxError } from '../../src/errors';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { capabilitySidsFor, knownCapabilitySids } from '../../src/sandbox/windows/capabilities';

const winCtx: CompileContext = {
  platform: 'win32',
  home: 'C:\\Users\\dev',
  userTemp: 'C:\\Users\\dev\\AppData\\Local\\Temp',
  stateDir: 'C:\\Users\\dev\\AppData\\Local\\AgentSandbox',
  env: {
    Path: 'C:\\Windows',
    GITHUB_TOKEN: 'ghp_x',
    npm_config_token: 'y',
    MY_API_KEY: 'k',
    AWS_PROFILE: 'p',
    APPDATA: 'C:\\Users\\dev\\AppData\\Roaming',
    KEEP_TOKEN: 'keep',
  },
};
const linCtx: CompileContext = {
  platform: 'linux',
  home: '/home/dev',
  userTemp: '/tmp',
  stateDir: '/home/dev/.local/state/agent-sandbox',
  env: {
    PATH: '/usr/bin',
    SSH_AUTH_SOCK: '/run/user/1000/ssh.sock',
    XDG_RUNTIME_DIR: '/run/user/1000',
    HOME: '/home/dev',
  },
};

function win(input: object, ctx: Partial<CompileContext> = {}): Win32Plan {
  const p = compilePlan({ workspaceRoots: ['C:\\Users\\dev\\repo'], ...input }, { ...winCtx, ...ctx });
  assert.equal(p.platform, 'win32');
  return p as Win32Plan;
}
function lin(input: object, ctx: Partial<CompileContext> = {}): LinuxPlan {
  const p = compilePlan({ workspaceRoots: ['/home/dev/repo'], ...input }, { ...linCtx, ...ctx });
  assert.equal(p.platform, 'linux');
  return p as LinuxPlan;
}

test('win32 masks: writable roots get RWX+DELETE without FILE_DELETE_CHILD; protected paths deny every write', () => {
  assert.equal(WRITABLE_ROOT_MASK.value, 0x1301bf);
  assert.equal(WRITABLE_ROOT_MASK.value & 0x40, 0, 'no FILE_DELETE_CHILD');
  assert.equal(DENY_WRITE_MASK.value, 0xd0156);
  assert.ok(DENY_WRITE_MASK.names.includes('FILE_DELETE_CHILD'));
  assert.equal(DENY_WRITE_MASK.value & 0x100000, 0, 'SYNCHRONIZE is not denied (reads need it)');
});

test('win32 plan: a grant per root with OI|CI, deny ACEs per protected path, private temp granted', () => {
  const p = win({ writableRoots: ['D:\\cache'] });
  const grants = p.acl.filter((a) => a.action === 'grant');
  assert.deepEqual(
    grants.map((g) => [g.path, g.reason]),
    [
      ['C:\\Users\\dev\\repo', 'writable-root'],
      ['D:\\cache', 'writable-root'],
      [p.tempDir, 'temp-dir'],
    ],
  );
  for (const g of grants) {
    assert.equal(g.inheritance.value, 3);
    assert.deepEqual(g.inheritance.names, ['OBJECT_INHERIT_ACE', 'CONTAINER_INHERIT_ACE']);
    assert.equal(g.sid.kind, 'capability');
  }
  const denies = p.acl.filter((a) => a.action === 'deny');
  assert.deepEqual(
    denies.map((d) => d.path),
    [
      'C:\\Users\\dev\\repo\\.git',
      'C:\\Users\\dev\\repo\\.git\\hooks',
      'C:\\Users\\dev\\repo\\.git\\config',
      'C:\\Users\\dev\\repo\\.git\\commondir',
      'C:\\Users\\dev\\repo\\.vscode',
      'C:\\Users\\dev\\repo\\.agent-sandbox',
      'C:\\Users\\dev\\repo\\.envrc',
      'C:\\Users\\dev\\repo\\.env',
      'D:\\cache\\.git',
      'D:\\cache\\.git\\hooks',
      'D:\\cache\\.git\\config',
      'D:\\cache\\.git\\commondir',
      'D:\\cache\\.vscode',
      'D:\\cache\\.agent-sandbox',
      'D:\\cache\\.envrc',
      'D:\\cache\\.env',
    ],
  );
  const pin = denies.find((d) => d.path === 'C:\\Users\\dev\\repo\\.git')!;
  assert.deepEqual(
    pin.mask.names,
    ['DELETE', 'WRITE_DAC', 'WRITE_OWNER'],
    '.git cannot be renamed away from its protected children',
  );
  assert.equal(pin.inheritance.value, 0, 'files inside .git stay writable');
  const config = denies.find((d) => d.path.endsWith('.git\\config'))!;
  assert.equal(config.inheritance.value, 0, 'a file gets no inheritance flags');
  assert.equal(
    config.createIfMissing,
    'file',
    'a missing protected file gets an empty placeholder before the deny ACE',
  );
  const hooks = denies.find((d) => d.path.endsWith('hooks'))!;
  assert.equal(hooks.createIfMissing, 'dir', 'missing protected folders are created before the deny ACE');
  assert.equal(hooks.mask.value, 0xd0156);
  assert.ok(p.tempDir.startsWith('C:\\Users\\dev\\AppData\\Local\\AgentSandbox\\tmp\\'));
});

test('win32 token: write-restricted, restricting SIDs are capability + logon + Everyone, default DACL has no Everyone', () => {
  const p = win({}, { capabilitySids: { 'c:\\users\\dev\\repo': 'S-1-5-21-1-2-3-4' } });
  assert.deepEqual(p.token.flags.names, ['DISABLE_MAX_PRIVILEGE', 'LUA_TOKEN', 'WRITE_RESTRICTED']);
  assert.equal(p.token.flags.value, 0x1 | 0x4 | 0x8);
  assert.deepEqual(
    p.token.restrictingSids.map((s) => s.kind),
    ['capability', 'logon', 'literal'],
  );
  assert.deepEqual(p.token.restrictingSids[0], {
    kind: 'capability',
    root: 'C:\\Users\\dev\\repo',
    sid: 'S-1-5-21-1-2-3-4',
  });
  assert.ok(!p.token.defaultDacl.some((e) => e.sid.kind === 'literal' && e.sid.sid === 'S-1-1-0'));
  assert.deepEqual(p.token.keepPrivileges, ['SeChangeNotifyPrivilege']);
});

test('win32 unelevated offline: network is advisory, proxies point nowhere, and the plan says so', () => {
  const p = win({});
  assert.equal(p.networkEnforcement, 'advisory');
  assert.equal(p.env.set.HTTPS_PROXY, 'http://127.0.0.1:9');
  assert.ok(p.warnings.some((w) => /Set Up Windows Sandbox/.test(w)));
  assert.deepEqual(p.firewall, []);
  const online = win({ network: 'online' });
  assert.equal(online.networkEnforcement, 'none');
  assert.equal(online.env.set.HTTPS_PROXY, undefined);
});

test('win32 elevated: firewall rule for the offline user and group grants on roots and runtime dirs', () => {
  const p = win({}, { windowsMode: 'elevated', runtimeDirs: ['C:\\Program Files\\Microsoft VS Code'] });
  assert.equal(p.networkEnforcement, 'firewall');
  assert.equal(p.firewall.length, 1);
  assert.equal(p.firewall[0].action, 'block');
  assert.equal(p.firewall[0].direction, 'out');
  assert.match(p.firewall[0].localUserSddl, /^O:LSD:\(A;;CC;;;\{offlineUserSid\}\)$/);
  const runtime = p.acl.find((a) => a.reason === 'runtime-read')!;
  assert.equal(runtime.sid.kind, 'sandbox-group');
  assert.equal(runtime.mask.value & 0x2, 0, 'runtime dirs are not writable');
  assert.ok(p.acl.some((a) => a.reason === 'writable-root' && a.sid.kind === 'sandbox-group'));
});

test('win32: a folder that is not a repository gets .git as one read-only empty folder, not a half-made .git', () => {
  const R = 'C:\\Users\\dev\\repo';
  const exists = new Set([R, `${R}\\.vscode`].map((x) => x.toLowerCase()));
  const fs = {
    realpath: (x: string) => x,
    kind: (x: string) => (exists.has(x.toLowerCase()) ? ('dir' as const) : ('missing' as const)),
  };
  const p = win({}, { fs });
  const denies = p.acl.filter((a) => a.action === 'deny');
  assert.deepEqual(
    denies.map((d) => d.path),
    [`${R}\\.git`, `${R}\\.vscode`, `${R}\\.agent-sandbox`, `${R}\\.envrc`, `${R}\\.env`],
  );
  const git = denies[0];
  assert.deepEqual(git.mask, DENY_WRITE_MASK, 'nothing can be created in it, nor can it be removed');
  assert.equal(git.inheritance.value, 3);
  assert.equal(git.createIfMissing, 'dir');
  assert.ok(!p.acl.some((a) => a.path.startsWith(`${R}\\.git\\`)), 'no placeholders inside it');
  // on the next run the placeholder exists (an empty .git, no HEAD): it stays one read-only folder, not pinned
  exists.add(`${R}\\.git`.toLowerCase());
  const again = win({}, { fs }).acl.filter((a) => a.action === 'deny');
  assert.deepEqual(again.find((a) => a.path === `${R}\\.git`)?.mask, DENY_WRITE_MASK);
  assert.equal(again.find((a) => a.path === `${R}\\.git`)?.inheritance.value, 3);
  assert.ok(!again.some((a) => a.path.startsWith(`${R}\\.git\\`)), 'still no placeholders inside it');
  // once it is a repository (git init wrote HEAD), its children are protected as usual
  exists.add(`${R}\\.git\\HEAD`.toLowerCase());
  const repo = win({}, { fs });
  assert.ok(repo.acl.some((a) => a.path === `${R}\\.git\\hooks` && a.action === 'deny'));
  assert.deepEqual(repo.acl.find((a) => a.path === `${R}\\.git`)?.mask.names, ['DELETE', 'WRITE_DAC', 'WRITE_OWNER']);
});

test('win32 env: secrets scrubbed case-insensitively, allowlist kept, private TEMP/TMP set', () => {
  const p = win({ env: { allow: ['KEEP_TOKEN'] } });
  assert.deepEqual(p.env.remove, ['AWS_PROFILE', 'GITHUB_TOKEN', 'MY_API_KEY', 'npm_config_token']);
  assert.equal(p.env.set.TEMP, p.tempDir);
  assert.equal(p.env.set.TMP, p.tempDir);
  assert.equal(p.env.set.TMPDIR, undefined);
});

test('env scrub: literal names match whole names only, case-insensitively; globs still match', () => {
  const env = { Kubeconfig: 'k', KUBECONFIG_EXTRA: 'x', MY_VAR: 'v', MY_VARS: 'w', A_SECRET_B: 's', path: '/bin' };
  const p = lin({ env: { scrub: ['KUBECONFIG', 'my_var', '*_SECRET_*'] } }, { env });
  assert.deepEqual(p.env.remove, ['A_SECRET_B', 'Kubeconfig', 'MY_VAR']);
});

test('win32 denyRead expands ~ and %VAR%, drops entries whose variable is unset', () => {
  const p = win({});
  assert.ok(p.denyRead.includes('C:\\Users\\dev\\.ssh'));
  assert.ok(p.denyRead.includes('C:\\Users\\dev\\AppData\\Roaming\\gcloud'));
  assert.ok(!p.denyRead.some((d) => d.includes('%')));
  assert.ok(!p.denyRead.some((d) => /LOCALAPPDATA/i.test(d)));
});

test('read-only mode: no writable roots, so no root grants, but the private temp stays writable', () => {
  const p = win({ mode: 'read-only' });
  assert.deepEqual(p.writableRoots, []);
  assert.deepEqual(
    p.acl.filter((a) => a.reason === 'writable-root'),
    [],
  );
  assert.ok(p.acl.some((a) => a.reason === 'temp-dir'));
  const l = lin({ mode: 'read-only' });
  assert.ok(!l.bwrapArgs.includes('/home/dev/repo'));
  assert.deepEqual(l.landlock.writablePaths, ['/tmp', '/dev']);
});

test('linux plan: ro root, private /tmp, roots bound rw, protected paths ro on top, credentials and sockets hidden', () => {
  const p = lin({});
  const a = p.bwrapArgs;
  const idx = (...seq: string[]) => a.findIndex((_, i) => seq.every((s, j) => a[i + j] === s));
  assert.equal(idx('--ro-bind', '/', '/'), 0);
  const tmp = idx('--bind', p.tempDir, '/tmp');
  const root = idx('--bind', '/home/dev/repo', '/home/dev/repo');
  const hooks = idx('--ro-bind', '/home/dev/repo/.git/hooks', '/home/dev/repo/.git/hooks');
  assert.ok(tmp > 0 && root > tmp && hooks > root, 'tmp, then roots, then protected binds on top');
  // /run/user/1000 lies inside /run, which hides it whole (a nested mount point cannot be made there).
  for (const d of ['/home/dev/.ssh', '/home/dev/.aws', '/run']) assert.ok(idx('--tmpfs', d) > root, d);
  assert.equal(idx('--tmpfs', '/run/user'), -1);
  assert.ok(p.hiddenSockets.includes('/run/user/1000/ssh.sock'));
  assert.ok(a.includes('--unshare-net'));
  assert.ok(a.includes('--unshare-pid'));
  assert.ok(a.includes('--die-with-parent'));
  assert.deepEqual(p.landlock.writablePaths, ['/home/dev/repo', '/tmp', '/dev']);
  assert.deepEqual(p.seccomp.allowSocketFamilies, ['AF_UNIX']);
  assert.ok(p.seccomp.denySyscalls.includes('ptrace'));
  assert.ok(p.seccomp.denyIoctls.includes('TIOCSTI'));
});

test("linux online: its own network namespace through slirp4netns (the host's only with allowHostLoopback); sockets are not filtered", () => {
  const p = lin({ network: 'online' });
  assert.ok(p.bwrapArgs.includes('--unshare-net'));
  assert.ok(!lin({ network: 'online', allowHostLoopback: true }).bwrapArgs.includes('--unshare-net'));
  assert.equal(p.seccomp.allowSocketFamilies, null);
});

test('linux env: scrubbed secrets, SSH_AUTH_SOCK removed, TMPDIR is the private /tmp', () => {
  const p = lin(
    {},
    { env: { ...linCtx.env, NPM_TOKEN: 'x', GH_TOKEN: 'y', AWS_SECRET_ACCESS_KEY: 'z', EDITOR: 'vi' } },
  );
  assert.deepEqual(p.env.remove, ['AWS_SECRET_ACCESS_KEY', 'GH_TOKEN', 'NPM_TOKEN', 'SSH_AUTH_SOCK']);
  assert.equal(p.env.set.TMPDIR, '/tmp');
  assert.equal(p.env.set.AGENT_SANDBOX, '1');
});

test('the private temp is per workspace set, stable, and never the user temp', () => {
  const a = lin({});
  const b = lin({});
  const c = lin({ workspaceRoots: ['/home/dev/other'] });
  assert.equal(a.tempDir, b.tempDir);
  assert.notEqual(a.tempDir, c.tempDir);
  assert.ok(a.tempDir.startsWith('/home/dev/.local/state/agent-sandbox/tmp/'));
});

test('roots are deduplicated (case-insensitively on Windows)', () => {
  const p = win({ workspaceRoots: ['C:\\Users\\dev\\repo', 'c:\\users\\dev\\REPO\\'] });
  assert.deepEqual(p.workspaceRoots, ['C:\\Users\\dev\\repo']);
});

test('a missing root is an error when the disk is consulted, and refused roots stay refused', () => {
  const fs = { realpath: () => undefined, kind: () => 'missing' as const };
  assert.throws(
    () => lin({}, { fs }),
    (e: unknown) => e instanceof SandboxError && e.code === 'root-missing',
  );
  assert.throws(
    () => lin({ workspaceRoots: ['/home/dev'] }),
    (e: unknown) => e instanceof SandboxError && e.code === 'root-refused',
  );
  assert.throws(
    () => win({ writableRoots: ['C:\\Windows\\Temp'] }),
    (e: unknown) => e instanceof SandboxError && e.code === 'root-refused',
  );
});

test('plans are plain JSON data', () => {
  for (const p of [lin({}), win({})]) assert.deepEqual(JSON.parse(JSON.stringify(p)), p);
});

test('win32: system folders named by the environment are refused even off drive C:', () => {
  const env = { ...winCtx.env, SystemRoot: 'D:\\WINDOWS', ProgramFiles: 'D:\\Program Files' };
  assert.throws(() => win({ writableRoots: ['D:\\Program Files\\Tool'] }, { env }), /system folder D:\\Program Files/);
  assert.throws(() => win({ writableRoots: ['d:\\windows\\temp'] }, { env }), /system folder D:\\WINDOWS/);
  win({ writableRoots: ['D:\\src'] }, { env });
});

test('win32 allowlist, unelevated: advisory, said in the plan; no closed-port proxy variables; the allowlist shown', () => {
  const p = win({ network: 'allowlist', allowedDomains: ['@github'] });
  assert.equal(p.networkEnforcement, 'advisory');
  assert.ok(p.warnings.some((w) => /allowlist without the one-time administrator setup is ADVISORY/.test(w)));
  assert.equal(p.env.set.HTTP_PROXY, undefined, 'the per-command proxy URL is added at spawn, with its credential');
  assert.equal(p.allowlist?.allowed[0], 'github.com');
  assert.match(p.allowlist?.enforcement ?? '', /ADVISORY only/);
  assert.deepEqual(p.firewall, []);
});

test('win32 allowlist, elevated (planned): block rules scoped to all but loopback, loopback TCP but the proxy port, loopback UDP', () => {
  const p = win({ network: 'allowlist', allowedDomains: ['x.org'] }, { windowsMode: 'elevated' });
  assert.equal(p.networkEnforcement, 'firewall');
  assert.deepEqual(
    p.firewall.map((r) => [r.protocol, r.remoteAddresses, r.remotePorts]),
    [
      [
        undefined,
        '0.0.0.0-126.255.255.255,128.0.0.0-255.255.255.255,::,::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
        undefined,
      ],
      ['tcp', '127.0.0.0/8,::1', '1-47127,47129-65535'],
      ['udp', '127.0.0.0/8,::1', undefined],
    ],
  );
  assert.ok(p.firewall.every((r) => r.action === 'block' && r.user.kind === 'sandbox-user'));
  assert.ok(p.warnings.some((w) => /planned .* but not run yet/.test(w)));
});

test("win32 elevated: the sandbox account's own SID is a restricting SID and in the default DACL (named pipes with default security); unelevated: never", () => {
  for (const network of ['offline', 'online'] as const) {
    const p = win({ network }, { windowsMode: 'elevated', runtimeDirs: [] });
    assert.deepEqual(
      p.token.restrictingSids.filter((s) => s.kind === 'sandbox-user'),
      [{ kind: 'sandbox-user', network }],
    );
    assert.ok(p.token.defaultDacl.some((d) => d.sid.kind === 'sandbox-user'));
  }
  const u = win({});
  assert.ok(!u.token.restrictingSids.some((s) => s.kind === 'sandbox-user' || s.kind === 'current-user'));
});

test('win32 unelevated offline: advisory variables also cover tools that skip the PATH stubs', () => {
  const p = win({ network: 'offline' });
  assert.equal(p.env.set.NPM_CONFIG_OFFLINE, 'true');
  assert.equal(p.env.set.CARGO_NET_OFFLINE, 'true');
  assert.equal(p.env.set.PIP_NO_INDEX, '1');
  assert.ok(p.env.set.GIT_SSH_COMMAND);
});

test('win32: the capability SIDs earlier runs minted are plan facts, so the plan names the SIDs its ACEs carry', () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-caps-'));
  try {
    assert.deepEqual(
      knownCapabilitySids(stateDir),
      {},
      'nothing minted yet: the plan names the capability symbolically',
    );
    assert.deepEqual(win({}, { capabilitySids: knownCapabilitySids(stateDir) }).token.restrictingSids[0], {
      kind: 'capability',
      root: 'C:\\Users\\dev\\repo',
    });
    const minted = capabilitySidsFor(stateDir, ['C:\\Users\\dev\\repo'], () => 'S-1-5-21-1-2-3-4');
    assert.deepEqual(knownCapabilitySids(stateDir), minted);
    const p = win({}, { capabilitySids: knownCapabilitySids(stateDir) });
    assert.deepEqual(p.token.restrictingSids[0], {
      kind: 'capability',
      root: 'C:\\Users\\dev\\repo',
      sid: 'S-1-5-21-1-2-3-4',
    });
    assert.ok(
      p.acl.some(
        (op) => op.reason === 'writable-root' && op.sid.kind === 'capability' && op.sid.sid === 'S-1-5-21-1-2-3-4',
      ),
    );
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});
