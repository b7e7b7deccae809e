/**
 * ResolvedPolicy → Win32Plan: the restricted-token spec, every ACL operation with its mask spelled out, and for
 * elevated mode the sandbox accounts, their firewall rule and the group's grants. This is the only place elevated
 * mode is planned: setup applies the plan's accounts, rule and group grants, and the backend the rest. Pure: the
 * machine's facts (mode, group SID, runtime folders, capability SIDs) come from the context, given by the backend
 * before compiling; what is absent the plan names symbolically.
 */
import type { AccessMask, AclOperation, FirewallRuleSpec, PlanSid, TokenSpec, Win32Plan } from './plan';
import type { Network } from './schema';
import type { CompileContext, ResolvedPolicy } from './resolved';
import { PLACEHOLDER_CONTENT } from './schema';
import { allowlistPlan, planBase } from './plan-base';
import { pathApi } from './paths';

export type { PlanFacts, Win32Context } from './resolved';

/** The local group and accounts elevated setup creates. Renaming one strands what an older setup created. */
export const SANDBOX_GROUP = 'AgentSandboxUsers';
export const SANDBOX_USERS: Readonly<Record<Network, string>> = {
  offline: 'AgentSandboxOffline',
  online: 'AgentSandboxOnline',
};

/** Access-right bits (winnt.h). */
export const FileRights = {
  FILE_READ_DATA: 0x1,
  FILE_WRITE_DATA: 0x2,
  FILE_APPEND_DATA: 0x4,
  FILE_READ_EA: 0x8,
  FILE_WRITE_EA: 0x10,
  FILE_EXECUTE: 0x20,
  FILE_DELETE_CHILD: 0x40,
  FILE_READ_ATTRIBUTES: 0x80,
  FILE_WRITE_ATTRIBUTES: 0x100,
  DELETE: 0x10000,
  READ_CONTROL: 0x20000,
  WRITE_DAC: 0x40000,
  WRITE_OWNER: 0x80000,
  SYNCHRONIZE: 0x100000,
} as const;

export const InheritFlags = { OBJECT_INHERIT_ACE: 0x1, CONTAINER_INHERIT_ACE: 0x2 } as const;

export const TokenFlags = {
  DISABLE_MAX_PRIVILEGE: 0x1,
  SANDBOX_INERT: 0x2,
  LUA_TOKEN: 0x4,
  WRITE_RESTRICTED: 0x8,
} as const;

export function mask<T extends Record<string, number>>(table: T, names: (keyof T & string)[]): AccessMask {
  return { value: names.reduce((v, n) => (v | table[n]) >>> 0, 0), names: [...names] };
}

const READ: (keyof typeof FileRights)[] = [
  'FILE_READ_DATA',
  'FILE_READ_EA',
  'FILE_READ_ATTRIBUTES',
  'READ_CONTROL',
  'SYNCHRONIZE',
];
const EXECUTE: (keyof typeof FileRights)[] = ['FILE_EXECUTE'];
const WRITE: (keyof typeof FileRights)[] = [
  'FILE_WRITE_DATA',
  'FILE_APPEND_DATA',
  'FILE_WRITE_EA',
  'FILE_WRITE_ATTRIBUTES',
];

/** Read, write, execute and DELETE, without FILE_DELETE_CHILD (which would bypass deny ACEs on children). */
export const WRITABLE_ROOT_MASK = mask(FileRights, [...READ, ...EXECUTE, ...WRITE, 'DELETE']);
export const READ_EXECUTE_MASK = mask(FileRights, [...READ, ...EXECUTE]);
/** Denied on protected paths: every way to change content, metadata, permissions or existence. */
export const DENY_WRITE_MASK = mask(FileRights, [...WRITE, 'DELETE', 'FILE_DELETE_CHILD', 'WRITE_DAC', 'WRITE_OWNER']);
/**
 * Denied on the folders between a root and a protected path (`.git` for `.git/hooks`), without inheritance: the
 * folder cannot be renamed or deleted away (a rename needs DELETE on the folder itself, never rights on its
 * children), nor its permissions changed, while files inside it stay writable.
 */
export const PIN_MASK = mask(FileRights, ['DELETE', 'WRITE_DAC', 'WRITE_OWNER']);
export const INHERIT_ALL = mask(InheritFlags, ['OBJECT_INHERIT_ACE', 'CONTAINER_INHERIT_ACE']);
export const INHERIT_NONE: AccessMask = { value: 0, names: [] };

export const EVERYONE: PlanSid = { kind: 'literal', sid: 'S-1-1-0', name: 'Everyone' };

export const FIREWALL_RULE_NAME = 'Agent Sandbox: block outbound for AgentSandboxOffline';

export function compileWin32(r: ResolvedPolicy, ctx: CompileContext): Win32Plan {
  const windowsMode = ctx.windowsMode ?? 'unelevated';
  const group: PlanSid = ctx.groupSid
    ? { kind: 'literal', sid: ctx.groupSid, name: SANDBOX_GROUP }
    : { kind: 'sandbox-group' };
  const capOf = (root: string): PlanSid => {
    const sid = ctx.capabilitySids?.[root.toLowerCase()];
    return sid ? { kind: 'capability', root, sid } : { kind: 'capability', root };
  };
  const caps = r.workspaceRoots.length ? r.workspaceRoots.map(capOf) : [capOf(r.tempDir)];
  const acl: AclOperation[] = [];
  const grant = (path: string, sid: PlanSid, m: AccessMask, reason: AclOperation['reason'], create?: 'dir') =>
    acl.push({
      path,
      sid,
      action: 'grant',
      mask: m,
      inheritance: INHERIT_ALL,
      reason,
      ...(create ? { createIfMissing: create } : {}),
    });

  // Extra writable roots are covered by the first workspace's capability SID.
  const capForPath = (root: string) => caps[Math.max(0, r.workspaceRoots.indexOf(root))] ?? caps[0];
  for (const root of r.writableRoots) {
    grant(root, capForPath(root), WRITABLE_ROOT_MASK, 'writable-root');
    if (windowsMode === 'elevated') grant(root, group, WRITABLE_ROOT_MASK, 'writable-root');
  }
  for (const c of caps) grant(r.tempDir, c, WRITABLE_ROOT_MASK, 'temp-dir', 'dir');
  if (windowsMode === 'elevated') {
    grant(r.tempDir, group, WRITABLE_ROOT_MASK, 'temp-dir', 'dir');
    for (const dir of ctx.runtimeDirs ?? []) grant(dir, group, READ_EXECUTE_MASK, 'runtime-read');
  }
  const pinned = new Set<string>();
  const sealed = new Set<string>();
  for (const pp of r.protectedPaths) {
    // A protected path under a folder that does not exist yet (`.git/hooks` in a folder that is not a repository):
    // that folder itself becomes one read-only empty folder, as on Linux, instead of a half-made `.git` with
    // placeholders inside, which a sandboxed `git init` would then fill into a broken repository. Once the folder
    // exists (the user ran `git init`), the next plan protects its children instead, and the preparation removes
    // this deny as stale.
    const missing = ctx.fs ? foldersBetween(pp.root, pp.path).find((f) => ctx.fs!.kind(f) === 'missing') : undefined;
    if (missing) {
      if (sealed.has(missing.toLowerCase())) continue;
      sealed.add(missing.toLowerCase());
      for (const c of caps) {
        acl.push({
          path: missing,
          sid: c,
          action: 'deny',
          mask: DENY_WRITE_MASK,
          inheritance: INHERIT_ALL,
          reason: 'protected-path',
          createIfMissing: 'dir',
        });
      }
      continue;
    }
    for (const folder of foldersBetween(pp.root, pp.path)) {
      if (pinned.has(folder.toLowerCase())) continue;
      pinned.add(folder.toLowerCase());
      for (const c of caps) {
        acl.push({
          path: folder,
          sid: c,
          action: 'deny',
          mask: PIN_MASK,
          inheritance: INHERIT_NONE,
          reason: 'protected-path',
          createIfMissing: 'dir',
        });
      }
    }
    for (const c of caps) {
      acl.push({
        path: pp.path,
        sid: c,
        action: 'deny',
        mask: DENY_WRITE_MASK,
        inheritance: pp.kind === 'dir' ? INHERIT_ALL : INHERIT_NONE,
        reason: 'protected-path',
        // A missing literal path gets an empty placeholder file (as on Linux), so the sandbox cannot create it.
        createIfMissing: pp.kind === 'dir' ? 'dir' : 'file',
        ...(pp.kind !== 'dir' && (pp.content ?? PLACEHOLDER_CONTENT[pp.glob]) !== undefined
          ? { placeholderContent: pp.content ?? PLACEHOLDER_CONTENT[pp.glob] }
          : {}),
      });
    }
  }

  // Elevated: the sandbox account's own SID is a restricting SID too. Named pipes a command creates with default
  // security (libuv's child stdio, Rust std::process, ninja, Python multiprocessing) grant their creator owner,
  // that user SID, and nobody else write: without it every such pipe is EPERM. The account holds nothing the
  // group and capability grants do not, besides its own profile (which tools then can use for caches).
  // Unelevated has no equivalent: the user SID there is the developer's, which would undo the write restriction.
  const ownUser: PlanSid[] =
    windowsMode === 'elevated'
      ? [{ kind: 'sandbox-user', network: r.policy.network === 'online' ? 'online' : 'offline' }]
      : [];
  const token: TokenSpec = {
    flags: mask(TokenFlags, ['DISABLE_MAX_PRIVILEGE', 'LUA_TOKEN', 'WRITE_RESTRICTED']),
    restrictingSids: [...caps, { kind: 'logon' }, ...ownUser, EVERYONE],
    defaultDacl: [
      { sid: { kind: 'logon' }, mask: { value: 0x10000000, names: ['GENERIC_ALL'] } },
      ...caps.map((sid) => ({ sid, mask: { value: 0x10000000, names: ['GENERIC_ALL'] } })),
      ...ownUser.map((sid) => ({ sid, mask: { value: 0x10000000, names: ['GENERIC_ALL'] } })),
    ],
    keepPrivileges: ['SeChangeNotifyPrivilege'],
  };

  const firewall: FirewallRuleSpec[] = windowsMode === 'elevated' ? [offlineBlockRule()] : [];

  const networkEnforcement =
    r.policy.network === 'online' ? 'none' : windowsMode === 'elevated' ? 'firewall' : 'advisory';
  const warnings: string[] = [];
  const env = { remove: [...r.env.remove], set: { ...r.env.set } };
  const allowlist = r.policy.network === 'allowlist';
  if (allowlist) {
    firewall.splice(0, firewall.length, ...allowlistFirewallRules(firewall));
    warnings.push(
      windowsMode === 'elevated'
        ? 'The network allowlist with the elevated sandbox is planned (firewall block rules scoped to everything but the ' +
            'loopback proxy port) but not run yet: a command in this mode is refused.'
        : 'The network allowlist without the one-time administrator setup is ADVISORY: the proxy filters clients that ' +
            'honour the proxy variables, but nothing stops a program from connecting directly. Run "Agent Sandbox: Set Up ' +
            'Windows Sandbox" for a firewall block.',
    );
  } else if (networkEnforcement === 'advisory') {
    warnings.push(
      'Offline mode without the one-time administrator setup only points proxy variables at a closed port: a ' +
        'program that ignores them can still reach the network. Run "Agent Sandbox: Set Up Windows Sandbox" for a ' +
        'real firewall block.',
    );
    // Windows variable names are case-insensitive: one spelling each (http_proxy and HTTP_PROXY are the same).
    for (const v of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY']) {
      env.set[v] = 'http://127.0.0.1:9';
    }
    env.set.NO_PROXY = '';
    // Tools that ignore proxy variables or launch ssh.exe directly (git, libuv) skip the PATH stubs: tell them too.
    Object.assign(env.set, {
      GIT_SSH_COMMAND: 'agent-sandbox-offline-no-ssh',
      NPM_CONFIG_OFFLINE: 'true',
      CARGO_NET_OFFLINE: 'true',
      PIP_NO_INDEX: '1',
    });
  }
  if (windowsMode === 'unelevated') {
    warnings.push(
      'Reads are not restricted in this mode: the sandbox can read what you can read, except that ' +
        'denyRead paths are not hidden. Elevated setup adds read isolation.',
    );
  }

  const api = pathApi('win32');
  return {
    ...planBase(r),
    ...(allowlist
      ? {
          allowlist: allowlistPlan(
            r,
            WINDOWS_ENDPOINT,
            windowsMode === 'elevated'
              ? "Windows, elevated (planned, not run yet): the offline user's firewall block rules cover every address but " +
                  `loopback, and on loopback every TCP port but the proxy's (${WINDOWS_PROXY_PORT}); UDP (DNS) and ICMP stay blocked.`
              : 'Windows, unelevated: ADVISORY only. The proxy variables point clients at the proxy on loopback; a program ' +
                  'that ignores them can still connect anywhere.',
          ),
        }
      : {}),
    platform: 'win32',
    env,
    warnings,
    windowsMode,
    token,
    acl,
    firewall,
    ...(windowsMode === 'elevated' ? { accounts: { group, users: sandboxAccounts() } } : {}),
    networkEnforcement,
    auditPaths: (ctx.auditPaths ?? []).map((p) => api.normalize(p)),
  };
}

/** The loopback port the elevated firewall scope leaves open for the proxy (planned; see allowlistFirewallRules). */
export const WINDOWS_PROXY_PORT = 47128;

const WINDOWS_ENDPOINT = {
  http: 'http://127.0.0.1:<a loopback port chosen per command>',
  socks: 'socks5h://127.0.0.1:<a loopback port chosen per command>',
};

/**
 * Allowlist, elevated (planned): Windows Firewall block rules win over allow rules, so the offline user's block
 * must itself leave the proxy out: one rule for every protocol to every address but loopback, one for TCP to
 * loopback on every port but the proxy's, one for UDP to loopback (so DNS stays blocked everywhere).
 */
function allowlistFirewallRules(offline: FirewallRuleSpec[]): FirewallRuleSpec[] {
  const base = offline[0];
  if (!base) return [];
  const p = WINDOWS_PROXY_PORT;
  return [
    {
      ...base,
      name: `${base.name} (allowlist: not loopback)`,
      remoteAddresses:
        '0.0.0.0-126.255.255.255,128.0.0.0-255.255.255.255,' + '::,::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      description: 'Allowlist: blocks everything but loopback for the offline user.',
    },
    {
      ...base,
      name: `${base.name} (allowlist: loopback TCP)`,
      remoteAddresses: '127.0.0.0/8,::1',
      protocol: 'tcp',
      remotePorts: `1-${p - 1},${p + 1}-65535`,
      description: `Allowlist: blocks loopback TCP except the proxy port ${p}.`,
    },
    {
      ...base,
      name: `${base.name} (allowlist: loopback UDP)`,
      remoteAddresses: '127.0.0.0/8,::1',
      protocol: 'udp',
      description: 'Allowlist: blocks loopback UDP (DNS included).',
    },
  ];
}

/** The accounts elevated mode runs commands as, one per network mode. */
export function sandboxAccounts(): { name: string; network: Network }[] {
  return (['offline', 'online'] as const).map((network) => ({ name: SANDBOX_USERS[network], network }));
}

/**
 * The offline account's outbound block. Loopback is blocked too ("*" includes 127.0.0.0/8 and ::1): a local proxy
 * or dev server is a way out of an offline sandbox.
 */
export function offlineBlockRule(): FirewallRuleSpec {
  return {
    name: FIREWALL_RULE_NAME,
    direction: 'out',
    action: 'block',
    profiles: 'all',
    localUserSddl: 'O:LSD:(A;;CC;;;{offlineUserSid})',
    user: { kind: 'sandbox-user', network: 'offline' },
    remoteAddresses: '*',
    description: 'Blocks all outbound traffic, loopback included, for commands run by Agent Sandbox in offline mode.',
  };
}

/** Folders strictly between `root` and `p`, outermost first (`C:\\ws\\.git` for `C:\\ws\\.git\\hooks`). */
function foldersBetween(root: string, p: string): string[] {
  const rel = p.slice(root.length).split('\\').filter(Boolean);
  const out: string[] = [];
  for (let i = 1; i < rel.length; i++) out.push([root.replace(/\\$/, ''), ...rel.slice(0, i)].join('\\'));
  return out;
}
