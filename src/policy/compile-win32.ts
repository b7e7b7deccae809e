/**
 * ResolvedPolicy → Win32Plan: the restricted-token spec, every ACL operation with its mask spelled out, and for
 * elevated mode the sandbox accounts, their firewall rules and the group's grants. This is the only place elevated
 * mode is planned: setup applies the plan's accounts, rule and group grants, and the backend the rest. Pure: the
 * machine's facts (mode, group SID, runtime folders, capability SIDs) come from the context, given by the backend
 * before compiling; what is absent the plan names symbolically.
 */
import type { AccessMask, AclOperation, FirewallRuleSpec, PlanSid, TokenSpec, Win32Plan } from './plan';
import type { Network } from './schema';
import type { CompileContext, ResolvedPolicy } from './resolved';
import { PLACEHOLDER_CONTENT } from './schema';
import { allowlistPlan, planBase } from './plan-base';
import { isWithin, pathApi } from './paths';
import { capabilityKey, capabilityPolicyKey } from './capability-key';

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

export function compileWin32(r: ResolvedPolicy, ctx: CompileContext): Win32Plan {
  const windowsMode = ctx.windowsMode ?? 'unelevated';
  const group: PlanSid = ctx.groupSid
    ? { kind: 'literal', sid: ctx.groupSid, name: SANDBOX_GROUP }
    : { kind: 'sandbox-group' };
  // One capability SID per policy (its writable folders) and root: see ./capability-key.
  const policyKey = capabilityPolicyKey(r.writableRoots);
  const capOf = (root: string): PlanSid => {
    const sid = ctx.capabilitySids?.[capabilityKey(root, policyKey)];
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

  // Machine-wide: setup creates the same rules whatever the policy, and every elevated plan lists them.
  const firewall: FirewallRuleSpec[] = windowsMode === 'elevated' ? sandboxFirewallRules() : [];

  const networkEnforcement =
    r.policy.network === 'online' ? 'none' : windowsMode === 'elevated' ? 'firewall' : 'advisory';
  const warnings: string[] = [];
  const env = { remove: [...r.env.remove], set: { ...r.env.set } };
  const allowlist = r.policy.network === 'allowlist';
  if (windowsMode === 'elevated' && r.policy.network !== 'online') warnings.push(ON_BEHALF_GAP);
  if (windowsMode === 'elevated' && r.policy.network === 'offline') {
    warnings.push(
      `Offline (elevated): the offline account may still open TCP connections to loopback ports ${proxyPortRange()}, ` +
        "left open for the allowlist proxy, which refuses every request without a command's credential. Another " +
        'program listening on one of those ports would be reachable.',
    );
  }
  if (allowlist && windowsMode === 'unelevated') {
    warnings.push(
      'The network allowlist without the one-time administrator setup is ADVISORY: the proxy filters clients that ' +
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
    Object.assign(env.set, toolCacheEnv(r, ctx.env, env.set));
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
            windowsMode === 'elevated' ? ELEVATED_ENDPOINT : WINDOWS_ENDPOINT,
            windowsMode === 'elevated'
              ? `Windows, elevated: commands run as ${SANDBOX_USERS.offline}, whose Windows Firewall block rules cover every ` +
                  `address but loopback, and on loopback every TCP port but the proxy's (${proxyPortRange()}); UDP and ICMP ` +
                  "stay blocked. The proxy admits only the command's own credential. Enforced only while Windows Defender " +
                  'Firewall is on and applies local rules (checked when the runner starts; run Verify). Not covered: DNS ' +
                  "lookups and SMB made by Windows services on the account's behalf."
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
    ...(windowsMode === 'elevated' && r.policy.network !== 'online' && !r.policy.requireEnforcedFirewall
      ? { acceptUnenforcedFirewall: true as const }
      : {}),
    ...(!r.policy.requireEnforceableVolumes ? { acceptUnenforcedVolumes: true as const } : {}),
    auditPaths: (ctx.auditPaths ?? []).map((p) => api.normalize(p)),
  };
}

/**
 * The loopback ports the offline account's block leaves open, for the elevated proxy: pairs (HTTP, SOCKS5) from the
 * first, one pair per running backend (each VS Code window and each cold CLI run has its own proxy). Only the
 * proxy's listeners, which refuse any request without the command's credential, are meant to be there.
 */
export const WINDOWS_PROXY_PORTS = { first: 47128, pairs: 4 } as const;

/** The proxy's port pair number `i` (0-based). */
export function proxyPortPair(i: number): { httpPort: number; socksPort: number } {
  return { httpPort: WINDOWS_PROXY_PORTS.first + 2 * i, socksPort: WINDOWS_PROXY_PORTS.first + 2 * i + 1 };
}

function proxyPortRange(): string {
  return `${WINDOWS_PROXY_PORTS.first}-${WINDOWS_PROXY_PORTS.first + 2 * WINDOWS_PROXY_PORTS.pairs - 1}`;
}

const WINDOWS_ENDPOINT = {
  http: 'http://127.0.0.1:<a loopback port chosen per command>',
  socks: 'socks5h://127.0.0.1:<a loopback port chosen per command>',
};

const ELEVATED_ENDPOINT = {
  http: `http://127.0.0.1:<one of ${WINDOWS_PROXY_PORTS.first}, ${WINDOWS_PROXY_PORTS.first + 2}, ... (even ports of ${proxyPortRange()})>`,
  socks: `socks5h://127.0.0.1:<the HTTP port + 1>`,
};

/** What per-user firewall rules cannot stop, said wherever elevated offline or allowlist is described. */
export const ON_BEHALF_GAP =
  'Not covered by the firewall rules: DNS lookups made through the DNS Client service (getaddrinfo, Resolve-DnsName, ' +
  'ping by name) and SMB to \\\\host\\share paths made by the kernel redirector run as Windows services, not as the ' +
  'sandbox account, so a per-user rule does not see them: names the sandbox chooses can leave the machine as DNS ' +
  "queries, and a share that admits the sandbox account (or guests) can be reached. The account's own DNS (53/853), " +
  'ICMP and SMB (139/445) sockets are blocked.';

const NOT_LOOPBACK_V4 = '0.0.0.0-126.255.255.255,128.0.0.0-255.255.255.255';
const NOT_LOOPBACK_V6 = '::,::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
const LOOPBACK = '127.0.0.0/8,::1';

/**
 * Every firewall rule elevated setup creates, machine-wide and the same for every policy (the accounts serve every
 * window and policy). Windows Firewall block rules win over allow rules, so the offline account's block is written
 * as three scoped rules that together cover everything except TCP to the proxy's loopback ports: every protocol to
 * every address but loopback; TCP to loopback on every other port; UDP to loopback. Then the
 * protocols Codex's WFP filters block (issue 14 item 7): DNS (53, 853; TCP and UDP), ICMPv4/v6, SMB (139, 445) for the
 * offline account, where they repeat the block (defence in depth if the other rules are edited); for the online
 * account SMB only (its NTLM credentials would go to any share it names; DNS and ping are ordinary online traffic).
 * Why rules and not WFP filters: a WFP filter with a user condition sees the same flows as a rule with
 * LocalUserAuthorizedList (both match the identity of the process that opens the socket), so it would miss the same
 * service-made DNS and SMB traffic, and the firewall COM API is what setup, status and uninstall already read back.
 */
export function sandboxFirewallRules(): FirewallRuleSpec[] {
  const first = WINDOWS_PROXY_PORTS.first;
  const last = first + 2 * WINDOWS_PROXY_PORTS.pairs - 1;
  const rule = (
    network: Network,
    id: string,
    what: string,
    description: string,
    purpose: FirewallRuleSpec['purpose'],
    scope: Pick<FirewallRuleSpec, 'remoteAddresses' | 'protocol' | 'remotePorts'>,
  ): FirewallRuleSpec => ({
    id: `${network}-${id}`,
    name: `Agent Sandbox: block ${what} for ${SANDBOX_USERS[network]}`,
    direction: 'out',
    action: 'block',
    profiles: 'all',
    localUserSddl: `O:LSD:(A;;CC;;;{${network}UserSid})`,
    user: { kind: 'sandbox-user', network },
    description,
    purpose,
    ...scope,
  });
  const onBehalf = (network: Network): FirewallRuleSpec[] => [
    rule(network, 'dns-tcp', 'DNS over TCP', 'Blocks DNS (53) and DNS over TLS (853) over TCP.', 'dns', {
      remoteAddresses: '*',
      protocol: 'tcp',
      remotePorts: '53,853',
    }),
    rule(network, 'dns-udp', 'DNS over UDP', 'Blocks DNS (53) and DNS over DTLS/QUIC (853) over UDP.', 'dns', {
      remoteAddresses: '*',
      protocol: 'udp',
      remotePorts: '53,853',
    }),
    rule(network, 'icmpv4', 'ICMPv4', 'Blocks ICMPv4 (ping and the like).', 'icmp', {
      remoteAddresses: '*',
      protocol: 'icmpv4',
    }),
    rule(network, 'icmpv6', 'ICMPv6', 'Blocks ICMPv6 (ping and the like).', 'icmp', {
      remoteAddresses: '*',
      protocol: 'icmpv6',
    }),
    rule(network, 'smb', 'SMB', 'Blocks SMB (445) and NetBIOS sessions (139).', 'smb', {
      remoteAddresses: '*',
      protocol: 'tcp',
      remotePorts: '139,445',
    }),
  ];
  return [
    rule(
      'offline',
      'not-loopback',
      'outbound (not loopback)',
      'Blocks all outbound traffic to every address but loopback, for commands run by Agent Sandbox offline or with the allowlist.',
      'outbound-block',
      { remoteAddresses: `${NOT_LOOPBACK_V4},${NOT_LOOPBACK_V6}` },
    ),
    rule(
      'offline',
      'loopback-tcp',
      'loopback TCP',
      `Blocks TCP to loopback on every port but the allowlist proxy's (${first}-${last}).`,
      'outbound-block',
      { remoteAddresses: LOOPBACK, protocol: 'tcp', remotePorts: `1-${first - 1},${last + 1}-65535` },
    ),
    rule('offline', 'loopback-udp', 'loopback UDP', 'Blocks UDP to loopback (DNS included).', 'outbound-block', {
      remoteAddresses: LOOPBACK,
      protocol: 'udp',
    }),
    ...onBehalf('offline'),
    // Online commands may reach anything, so their own DNS resolvers (nslookup, dig) and ping keep working; SMB
    // stays blocked, since a share the sandbox names makes Windows send the account's NTLM credentials to it.
    ...onBehalf('online').filter((r) => r.purpose === 'smb'),
  ];
}

/** Rule names an older setup created and the current one replaces (setup and uninstall remove them). */
export const LEGACY_FIREWALL_RULE_NAMES = ['Agent Sandbox: block outbound for AgentSandboxOffline'];

/** The accounts elevated mode runs commands as, one per network mode. */
export function sandboxAccounts(): { name: string; network: Network }[] {
  return (['offline', 'online'] as const).map((network) => ({ name: SANDBOX_USERS[network], network }));
}

/**
 * Tool caches that default to the developer's profile (%LOCALAPPDATA%, %APPDATA%), which the unelevated sandbox
 * cannot write (review §3.11: `npm install`, `go build`, `pip install` fail there). Each gets a folder under the
 * sandbox's temp, which it can write. Left out: CARGO_HOME and GRADLE_USER_HOME, which also hold the developer's
 * installed tools and settings, not just caches. Elevated mode needs none: the account's own profile is writable.
 */
export const TOOL_CACHE_VARS: Readonly<Record<string, string>> = {
  npm_config_cache: 'npm',
  YARN_CACHE_FOLDER: 'yarn',
  PNPM_STORE_DIR: 'pnpm',
  PIP_CACHE_DIR: 'pip',
  GOCACHE: 'go-build',
  GOMODCACHE: 'go-mod',
  NUGET_PACKAGES: 'nuget',
  XDG_CACHE_HOME: 'xdg',
};

/**
 * The cache variables to set: every one of TOOL_CACHE_VARS except those the policy sets itself and those whose
 * current value is already inside a writable root (a cache the developer keeps in the workspace stays there).
 */
function toolCacheEnv(
  r: ResolvedPolicy,
  callerEnv: Record<string, string | undefined>,
  set: Record<string, string>,
): Record<string, string> {
  const get = (env: Record<string, string | undefined>, name: string) =>
    Object.entries(env).find(([k]) => k.toUpperCase() === name.toUpperCase())?.[1];
  const out: Record<string, string> = {};
  for (const [name, folder] of Object.entries(TOOL_CACHE_VARS)) {
    if (get(set, name) !== undefined) continue;
    const current = get(callerEnv, name);
    if (current && r.writableRoots.some((w) => isWithin('win32', w, current))) continue;
    out[name] = `${r.tempDir}\\cache\\${folder}`;
  }
  return out;
}

/** Folders strictly between `root` and `p`, outermost first (`C:\\ws\\.git` for `C:\\ws\\.git\\hooks`). */
function foldersBetween(root: string, p: string): string[] {
  const rel = p.slice(root.length).split('\\').filter(Boolean);
  const out: string[] = [];
  for (let i = 1; i < rel.length; i++) out.push([root.replace(/\\$/, ''), ...rel.slice(0, i)].join('\\'));
  return out;
}
