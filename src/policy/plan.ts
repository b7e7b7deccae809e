/**
 * Plans: what a backend must do to apply a policy, as pure data. A plan is JSON-serialisable, rendered by
 * `agent-sandbox plan` and "Show Effective Policy", and asserted by unit tests. Backends execute plans and never
 * re-derive policy decisions.
 */
import type { Mode, Network } from './schema';

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

export interface PlanBase {
  version: 1;
  platform: Platform;
  mode: Mode;
  network: Network;
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
  };
  seccomp: {
    /** Syscalls that fail with EPERM. */
    denySyscalls: string[];
    /** ioctl requests that fail with EPERM. */
    denyIoctls: string[];
    /** When set, socket() fails with EAFNOSUPPORT for every family not listed. */
    allowSocketFamilies: string[] | null;
  };
  /** Host Unix-socket locations hidden behind empty tmpfs or /dev/null binds. */
  hiddenSockets: string[];
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
  name: string;
  direction: 'out';
  action: 'block';
  profiles: 'all';
  /** SDDL for LocalUserAuthorizedList, with the user SID filled in by setup. */
  localUserSddl: string;
  user: PlanSid;
  remoteAddresses: string;
  description: string;
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
}

export type Plan = LinuxPlan | Win32Plan;
