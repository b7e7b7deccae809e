import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePlan, type CompileContext, type LinuxPlan, type Win32Plan } from '../../src/policy';
import { SandboxError } from '../../src/errors';
import { applyHole, type HoleTargets } from '../../src/verify/holes';

const ctx: CompileContext = {
  platform: 'linux',
  home: '/home/dev',
  userTemp: '/tmp',
  stateDir: '/home/dev/.s',
  env: { MY_TOKEN: 'x' },
};
const targets: HoleTargets = {
  secretEnv: 'MY_TOKEN',
  secretDir: '/home/dev/.ssh',
  protectedPath: '/home/dev/repo/.vscode',
  home: '/home/dev',
  runtimeDir: '/run/user/1000',
  deniedName: 'denied-x.verify.agent-sandbox.test',
};
const plan = () => compilePlan({ workspaceRoots: ['/home/dev/repo'], denyRead: ['~/.ssh'] }, ctx) as LinuxPlan;

/** Args as (flag, operands) groups, so tests compare mounts rather than loose strings. */
function pairs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arity = ['--bind', '--ro-bind'].includes(args[i])
      ? 2
      : ['--tmpfs', '--remount-ro', '--dev', '--proc'].includes(args[i])
        ? 1
        : 0;
    out.push(args.slice(i, i + 1 + arity).join(' '));
    i += arity;
  }
  return out;
}

function diff(a: string[], b: string[]) {
  return { removed: a.filter((x) => !b.includes(x)), added: b.filter((x) => !a.includes(x)) };
}

test('holes never modify the plan they are given', () => {
  const p = plan();
  const copy = structuredClone(p);
  for (const h of [
    'network',
    'protected-path',
    'deny-read',
    'secret-env',
    'home-write',
    'orphan',
    'host-socket',
  ] as const)
    applyHole(p, h, targets);
  assert.deepEqual(p, copy);
});

test('network hole: drops --unshare-net, the socket filter and the offline mark the backend layers on, nothing else', () => {
  const before = plan();
  const after = applyHole(before, 'network', targets) as LinuxPlan;
  assert.deepEqual(diff(pairs(before.bwrapArgs), pairs(after.bwrapArgs)), { removed: ['--unshare-net'], added: [] });
  assert.equal(after.seccomp.allowSocketFamilies, null);
  assert.equal(after.network, 'online');
  assert.deepEqual(after.seccomp.denySyscalls, before.seccomp.denySyscalls);
  assert.deepEqual(after.env, before.env);
});

test("protected-path hole: removes only that path's read-only bind and placeholder", () => {
  const before = plan();
  const after = applyHole(before, 'protected-path', targets) as LinuxPlan;
  assert.deepEqual(diff(pairs(before.bwrapArgs), pairs(after.bwrapArgs)), {
    removed: ['--ro-bind /home/dev/repo/.vscode /home/dev/repo/.vscode'],
    added: [],
  });
  assert.equal(after.protectedPaths.length, before.protectedPaths.length - 1);
  assert.ok(after.bwrapArgs.includes('/home/dev/repo/.git/hooks'));
});

test('deny-read hole: removes only the hiding mount of the secret folder', () => {
  const before = plan();
  const after = applyHole(before, 'deny-read', targets) as LinuxPlan;
  const d = diff(pairs(before.bwrapArgs), pairs(after.bwrapArgs));
  // Without ctx.fs the compiler assumes folders: --tmpfs DIR --remount-ro DIR.
  assert.deepEqual(d, { removed: ['--tmpfs /home/dev/.ssh', '--remount-ro /home/dev/.ssh'], added: [] });
  assert.deepEqual(after.denyRead, []);
});

test('secret-env hole: keeps exactly the planted variable', () => {
  const before = plan();
  assert.ok(before.env.remove.includes('MY_TOKEN'));
  const after = applyHole(before, 'secret-env', targets);
  assert.deepEqual(
    after.env.remove,
    before.env.remove.filter((n) => n !== 'MY_TOKEN'),
  );
});

test('home-write hole: binds home writable right after the read-only root, so later mounts still stack', () => {
  const after = applyHole(plan(), 'home-write', targets) as LinuxPlan;
  assert.deepEqual(after.bwrapArgs.slice(0, 6), ['--ro-bind', '/', '/', '--bind', '/home/dev', '/home/dev']);
  assert.ok(after.bwrapArgs.indexOf('/home/dev/.ssh') > 6, 'the credential mount comes later and still hides');
  assert.ok(after.landlock.writablePaths.includes('/home/dev'));
});

test('orphan hole: drops the pid namespace and die-with-parent', () => {
  const before = plan();
  const after = applyHole(before, 'orphan', targets) as LinuxPlan;
  assert.deepEqual(diff(pairs(before.bwrapArgs), pairs(after.bwrapArgs)).removed.sort(), [
    '--die-with-parent',
    '--unshare-pid',
  ]);
});

test('host-socket hole: removes only the hiding mount of the runtime folder', () => {
  // without ctx.fs the compiler assumes the runtime folder exists as a folder, hidden by tmpfs (after /run)
  const p = compilePlan(
    { workspaceRoots: ['/home/dev/repo'], denyRead: [] },
    { ...ctx, env: { XDG_RUNTIME_DIR: '/var/tmp/run-me' } },
  ) as LinuxPlan;
  const after = applyHole(p, 'host-socket', { ...targets, runtimeDir: '/var/tmp/run-me' }) as LinuxPlan;
  assert.deepEqual(diff(pairs(p.bwrapArgs), pairs(after.bwrapArgs)), {
    removed: ['--tmpfs /var/tmp/run-me', '--remount-ro /var/tmp/run-me'],
    added: [],
  });
  assert.ok(!after.hiddenSockets.includes('/var/tmp/run-me'));
  assert.ok(after.hiddenSockets.includes('/run'), 'the other hidden sockets stay hidden');
});

test('win32 plans: only the secret-env hole exists; the rest refuse instead of pretending', () => {
  const wctx: CompileContext = {
    platform: 'win32',
    home: 'C:\\Users\\dev',
    userTemp: 'C:\\Users\\dev\\AppData\\Local\\Temp',
    stateDir: 'C:\\Users\\dev\\AppData\\Local\\AgentSandbox',
    env: { MY_TOKEN: 'x' },
  };
  const wp = compilePlan({ workspaceRoots: ['C:\\Users\\dev\\repo'] }, wctx) as Win32Plan;
  assert.ok(!applyHole(wp, 'secret-env', targets).env.remove.includes('MY_TOKEN'));
  assert.throws(() => applyHole(wp, 'network', targets), SandboxError);
});

test('allowlist holes: direct drops only the namespace, socket and port rules; all/private widen only the allowlist', () => {
  const before = compilePlan(
    { workspaceRoots: ['/home/dev/repo'], denyRead: ['~/.ssh'], network: 'allowlist', allowedDomains: ['a.test'] },
    ctx,
  ) as LinuxPlan;
  const copy = structuredClone(before);
  const direct = applyHole(before, 'allowlist-direct', targets) as LinuxPlan;
  assert.deepEqual(diff(pairs(before.bwrapArgs), pairs(direct.bwrapArgs)), { removed: ['--unshare-net'], added: [] });
  assert.equal(direct.seccomp.allowSocketFamilies, null);
  assert.equal(direct.seccomp.tcpOnlySocketFamilies, undefined);
  assert.equal(direct.landlock.connectTcpPorts, undefined);
  assert.deepEqual([direct.allowlist, direct.proxyRelay], [before.allowlist, before.proxyRelay], 'the proxy stays');
  const all = applyHole(before, 'allowlist-all', targets) as LinuxPlan;
  assert.deepEqual(all.allowlist?.allowed, ['a.test', targets.deniedName]);
  assert.deepEqual(all.bwrapArgs, before.bwrapArgs);
  const priv = applyHole(before, 'allowlist-private', targets) as LinuxPlan;
  assert.deepEqual(priv.allowlist?.allowed, ['a.test', '127.0.0.1']);
  assert.deepEqual(before, copy, 'holes never modify the plan they are given');
});
