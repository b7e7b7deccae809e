/**
 * Plans: what a backend must do to apply a policy, as pure data. A plan is JSON-serialisable, rendered by
 * `agent-sandbox plan` and "Show Effective Policy", and asserted by unit tests. Backends execute plans and never
 * re-derive policy decisions.
 */
import type { Mode, Network, NetworkMode } from './schema';

export type Platform = 'linux' | 'win32';

/** A protected path resolved against one writable root. */
export interface ProtectedPath {
  /** Absolute path of the protected file or folder (it may not exist yet). */
  path: string;
  /** The writable root it belongs to. */
  root: string;
  /** The glob it came from. */
  glob: string;
  /** `dir` when the glob ended in `/**`, otherwise `file-or-dir` (a literal path whose kind is decided on disk). */
  kind: 'dir' | 'file-or-dir';
  /** Why it is protected, when it does not come straight from the policy's `protectedPaths` (git, editor, links). */
  reason?: string;
  /** What a placeholder for it must hold when it is missing (see PLACEHOLDER_CONTENT). */
  content?: string;
}

export interface EnvPlan {
  /** Variables removed from the caller's environment, by exact name. */
  remove: string[];
  /** Variables set (after removal). Includes the private TEMP/TMP. */
  set: Record<string, string>;
}

/** `allowlist` network mode: what may be reached, where the proxy is, and what enforces it. */
export interface AllowlistPlan {
  /** Hosts that may be reached, presets expanded (`allowedDomains`). Empty allows nothing. */
  allowed: string[];
  /** Hosts refused even when allowed (`deniedDomains`); deny wins. */
  denied: string[];
  /** Each preset used, with the hosts it stands for. */
  presets: { name: string; hosts: string[] }[];
  /** The proxy as the sandbox sees it (each command's URLs also carry its own credential). */
  endpoint: { http: string; socks: string };
  /** What stops a command from going around the proxy on this platform, in words. */
  enforcement: string;
}

export interface PlanBase {
  version: 1;
  platform: Platform;
  mode: Mode;
  network: NetworkMode;
  /** Canonical writable roots (empty in read-only mode). */
  writableRoots: string[];
  /** Canonical workspace folders (readable; writable unless read-only). */
  workspaceRoots: string[];
  protectedPaths: ProtectedPath[];
  /** Canonical credential paths that must be unreadable. */
  denyRead: string[];
  env: EnvPlan;
  /** The sandbox's private temp directory on the host. */
  tempDir: string;
  /**
   * Workspace files a host tool runs that stay writable (a hook manager's config in package.json), each naming the
   * setting that protects it. Shown by the plan and by Verify.
   */
  unprotected: string[];
  /** Present in `allowlist` network mode only. */
  allowlist?: AllowlistPlan;
  /** Things the user should know about this plan (for example, advisory-only network blocking). */
  warnings: string[];
}

// ---- Linux -----------------------------------------------------------------------------------------------------

export interface LinuxPlan extends PlanBase {
  platform: 'linux';
  /** bubblewrap arguments, up to (not including) the command. */
  bwrapArgs: string[];
  /** For each protected path that does not exist yet, its outermost missing part: an empty read-only placeholder. */
  placeholders: { path: string; kind: 'dir' | 'file'; content?: string }[];
  landlock: {
    /** Paths (inside the sandbox's view) where writes are allowed. Everything else is read/execute only. */
    writablePaths: string[];
    /** Lowest ABI we accept; the runner uses the best the kernel offers. */
    minAbi: 1;
    /** The runner refuses to run below this ABI (`requireFullLandlock`: 6; otherwise 0, losses reported). */
    requiredAbi: number;
    /** ABI 4+: TCP bind is denied and connect allowed only to these ports (allowlist: the proxy relay). */
    connectTcpPorts?: number[];
  };
  seccomp: {
    /** Syscalls that fail with EPERM. */
    denySyscalls: string[];
    /** ioctl requests that fail with EPERM. */
    denyIoctls: string[];
    /** When set, socket() fails with EAFNOSUPPORT for every family not listed. */
    allowSocketFamilies: string[] | null;
    /** Families socket() accepts only as TCP streams (SOCK_STREAM, protocol 0 or IPPROTO_TCP): no UDP, no raw. */
    tcpOnlySocketFamilies?: string[];
  };
  /** Allowlist: the relay inside the sandbox's network namespace, from loopback ports to the proxy's sockets. */
  proxyRelay?: {
    /** Where the proxy gateway's sockets are bound inside the sandbox. */
    httpSocket: string;
    socksSocket: string;
    host: string;
    httpPort: number;
    socksPort: number;
  };
  /** Host Unix-socket locations hidden behind empty tmpfs or /dev/null binds (/run whole, listening sockets). */
  hiddenSockets: string[];
  /**
   * `false` only in Verify's deliberately broken "host-socket" plan: a cold launch then does not hide the sockets
   * that started listening after the plan was made (src/sandbox/linux/index.ts). Absent means they are hidden.
   */
  hideLateSockets?: boolean;
  /** Files bound back read-only into the hidden /run, each with why commands need it. */
  runBindBacks: { path: string; reason: string }[];
  /** The state folder, hidden (other plans' private temps, the ledgers); absent for full-access. */
  privateState?: string;
  /**
   * Pinned folders and protected paths, each mounted onto itself. Replacing or removing one on the host detaches
   * its mount inside the sandbox, so the backend stops a sandbox whose guarded path changes identity (hidden paths
   * are guarded too, against being re-created: see MountGuard).
   */
  guardedPaths: string[];
  /** Online without `allowHostLoopback`: the sandbox has its own network namespace, networked by slirp4netns. */
  userNet?: 'slirp4netns';
  /**
   * Resource limits of one sandbox (0: none). Applied through a cgroup (pids.max, memory.max) where the backend can
   * make one, otherwise memory per process through RLIMIT_DATA and no process limit; the spawned process's
   * enforcement says which.
   */
  limits: { pids: number; memoryBytes: number };
  /** False only for `full-access`: the runner applies no Landlock or seccomp (absent means true). */
  confined?: boolean;
}

// ---- Windows ---------------------------------------------------------------------------------------------------

/** A SID in a plan: a literal string SID, or a symbolic one resolved by the backend. */
export type PlanSid =
  | { kind: 'literal'; sid: string; name: string }
  | { kind: 'capability'; root: string; sid?: string }
  | { kind: 'logon' }
  | { kind: 'current-user' }
  | { kind: 'sandbox-group' }
  | { kind: 'sandbox-user'; network: Network };

export interface AccessMask {
  value: number;
  names: string[];
}

export interface AclOperation {
  path: string;
  sid: PlanSid;
  action: 'grant' | 'deny';
  mask: AccessMask;
  inheritance: AccessMask;
  /** Why this ACE exists, for humans and the ledger. */
  reason: 'writable-root' | 'protected-path' | 'world-writable-audit' | 'runtime-read' | 'temp-dir';
  /** Create the folder (or an empty file) first when it does not exist. */
  createIfMissing?: 'dir' | 'file';
  /** What a created placeholder file holds, when empty would break tools (see PLACEHOLDER_CONTENT). */
  placeholderContent?: string;
}

export interface TokenSpec {
  flags: AccessMask;
  restrictingSids: PlanSid[];
  /** Default DACL entries for objects the child creates (pipes, events). Never Everyone. */
  defaultDacl: { sid: PlanSid; mask: AccessMask }[];
  /** Privileges kept enabled after DISABLE_MAX_PRIVILEGE. */
  keepPrivileges: string[];
}

export interface FirewallRuleSpec {
  /** Stable short id (`offline-not-loopback`), for setup's step ids and tests. */
  id: string;
  name: string;
  direction: 'out';
  action: 'block';
  profiles: 'all';
  /** SDDL for LocalUserAuthorizedList, with the user SID filled in by setup. */
  localUserSddl: string;
  user: PlanSid;
  remoteAddresses: string;
  /** Remote ports the rule covers (absent: all). Allowlist: every port but the proxy's on loopback. */
  remotePorts?: string;
  /** Absent: every protocol. Ports can only be scoped for `tcp` or `udp`. */
  protocol?: 'tcp' | 'udp' | 'icmpv4' | 'icmpv6';
  description: string;
  /** What the rule is for: the account's own outbound block, or a block of a protocol named by issue 14 item 7. */
  purpose: 'outbound-block' | 'dns' | 'icmp' | 'smb';
}

export interface Win32Plan extends PlanBase {
  platform: 'win32';
  /** `unelevated`: restricted token as the developer; `elevated`: a dedicated sandbox user set up by admin. */
  windowsMode: 'unelevated' | 'elevated';
  token: TokenSpec;
  /** ACL operations done once per root off the command path, each recorded in the ledger. */
  acl: AclOperation[];
  /** Firewall rules created by elevated setup (empty in unelevated mode). */
  firewall: FirewallRuleSpec[];
  /** Elevated mode only: the local group and the accounts commands run as, created by setup. */
  accounts?: { group: PlanSid; users: { name: string; network: Network }[] };
  /** `firewall`: a real block for the offline user. `advisory`: proxy variables only; not a security boundary. */
  networkEnforcement: 'firewall' | 'advisory' | 'none';
  /** Folders scanned by the world-writable audit. */
  auditPaths: string[];
  /**
   * Elevated offline/allowlist: run even while the firewall is not enforcing (`requireEnforcedFirewall: false`),
   * reported as network not enforced. Absent: such commands are refused.
   */
  acceptUnenforcedFirewall?: true;
  /**
   * Run even when a writable folder is on a network share or a volume without permissions (FAT/exFAT)
   * (`requireEnforceableVolumes: false`), reported as not enforced there. Absent: refused.
   */
  acceptUnenforcedVolumes?: true;
  /** Never set by compile, settings or flags: only Verify's internal test hook (src/verify/holes.ts) sets it. */
  weakened?: Win32Weakening;
}

/**
 * Launch-time protections a backend leaves out when Verify's test hook asks, so a test proves the matching
 * Windows probe fails without them (each one a deliberate hole, never a user choice).
 */
export interface Win32Weakening {
  /** No hidden pseudoconsole on the pipe path (console programs then need to build their own). */
  noPseudoconsole?: true;
  /** Unelevated: the caller's desktop instead of the private one. */
  noPrivateDesktop?: true;
  /** No job UI limits (clipboard, global atoms, window handles). */
  noUiLimits?: true;
  /** Elevated: no `safe.directory` through GIT_CONFIG_* for the workspace roots. */
  noSafeDirectory?: true;
}

export type Plan = LinuxPlan | Win32Plan;
