/**
 * The contract between surfaces (CLI, VS Code) and platform backends. A backend executes a compiled plan and
 * nothing else; if it cannot apply the plan it throws SandboxError and never runs the command.
 */
import type { Readable, Writable } from 'node:stream';
import type { Plan } from '../policy/plan';
import type { PlanFacts } from '../policy/compile-win32';
import type { NetworkDenial } from '../network/proxy';
import type { WindowsSandboxStatus } from './windows/setup/status';

export type { NetworkDenial };

export interface BackendOptions {
  /** Where the backend may keep state (capability SIDs, ledger, brokers). */
  stateDir: string;
  /**
   * Reuse a long-lived sandboxed broker per distinct plan (fast; for the extension and benchmarks). When false,
   * every spawn builds a fresh sandbox (the CLI's one-shot `run`). Default true.
   */
  broker?: boolean;
  /** One-time preparation progress (e.g. Windows ACL grants per root), for a progress notification. */
  onProgress?: (p: { message: string; done: number; total: number }) => void;
  /**
   * Read when a one-time preparation starts; aborting the signal it returns cancels that preparation between
   * operations (error code `cancelled`; what was applied stays recorded and the next run resumes).
   */
  preparationSignal?: () => AbortSignal | undefined;
}

export interface SpawnSpec {
  /** argv[0] is the program, resolved on the sandbox's PATH. */
  argv: string[];
  cwd: string;
  /** `inherit` streams to the caller's own stdio (CLI); `pipe` exposes streams (tool, tasks). */
  stdio: 'inherit' | 'pipe';
  /**
   * Linux broker only: the command runs directly on these descriptors (stdin, stdout, stderr; the CLI's fast client
   * passed its own), not on pipes; the returned streams are then null. The caller keeps and closes its copies.
   */
  stdioFds?: [number, number, number];
  /** Allocate a terminal (interactive shells). */
  tty?: { cols: number; rows: number };
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The caller's environment, before the plan's scrubbing. Default: this process's (the CLI's warm broker passes its client's). */
  env?: NodeJS.ProcessEnv;
  /**
   * `allowlist` network mode: extra allowlist entries for this command only (a grant the user confirmed). Other
   * commands running at the same time do not get them. `deniedDomains` still win.
   */
  allowDomains?: string[];
}

export interface ExitInfo {
  /** The CLI contract: the command's own code, 124 on timeout, 128+N when killed by signal N, 125 if never ran. */
  code: number;
  timedOut: boolean;
  signal?: string;
  durationMs: number;
  /** Set when the sandbox stopped the command itself (code 125), saying why: e.g. a protection could no longer hold. */
  stopped?: string;
  /** Resource limits the sandbox hit while the command ran (a fork refused, a process killed for memory). */
  limitsHit?: string[];
  /** Protections the sandbox wrote again while the command ran (Windows: the host replaced a protected file). */
  guarded?: string[];
}

export interface SandboxProcess {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly exited: Promise<ExitInfo>;
  /** Kills the whole process tree. Idempotent. */
  kill(): void;
  resize?(cols: number, rows: number): void;
  /**
   * What was actually applied to this command: on Linux from the runner's own report, on Windows from the backend
   * that ran it. CLI warnings, tool results and Verify read it here, never from a backend asked separately.
   */
  readonly enforcement: Enforcement;
  /** `allowlist` mode: the connections the proxy refused for this command so far (complete once `exited`). */
  networkDenials?(): NetworkDenial[];
}

/** What is actually enforced for a plan on this machine, for results and the UI. */
export interface Enforcement {
  filesystem: 'enforced' | 'partial' | 'advisory' | 'none';
  network: 'enforced' | 'advisory' | 'none';
  /** Human-readable notes, e.g. "Landlock ABI 7", "Landlock unavailable: bubblewrap only". */
  notes: string[];
  /** What went wrong while preparing (a grant that failed, folders the audit could not check); shown on every run. */
  problems?: string[];
}

/** `enf` with the preparation's problems attached (none: `enf` itself). */
export function withProblems(enf: Enforcement, problems: string[]): Enforcement {
  return problems.length ? { ...enf, problems: [...(enf.problems ?? []), ...problems] } : enf;
}

export interface BackendStatus {
  state: 'ready' | 'setup-needed' | 'unsupported';
  summary: string;
  /** What to do when not ready. */
  fix?: string;
  details: Record<string, string>;
}

export interface SandboxBackend {
  readonly platform: NodeJS.Platform;
  status(): Promise<BackendStatus>;
  /**
   * The machine's facts the plan depends on (Windows: the mode setup allows, the sandbox group's SID, runtime
   * folders), decided before compiling: surfaces pass them to compilePlan, so the plan shown is the plan that runs.
   */
  planFacts(): Promise<PlanFacts>;
  /** Applies the plan and starts the command; throws SandboxError when the sandbox cannot be applied. */
  spawn(plan: Plan, spec: SpawnSpec): Promise<SandboxProcess>;
  /** What this backend would enforce for `plan`, for previews; a spawned process carries what was applied. */
  enforcement(plan: Plan): Enforcement;
  dispose(): Promise<void>;
}

// ---- Lifecycle (sandbox/lifecycle.ts): Set Up, Status, Remove, "remove this workspace" ---------------------------

export interface SetUpOptions {
  stateDir: string;
  /** Folders the sandbox may write (Windows setup grants the sandbox accounts write access there). */
  workspaceRoots: string[];
  /** The extension's folder (the CLI: its package), which the sandbox accounts must read. */
  extensionDir?: string;
  /** More folders the sandbox must read and run. */
  toolDirs?: string[];
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

export interface SetUpResult {
  state: BackendStatus['state'];
  summary: string;
  fix?: string;
  /** What did not go as planned in a setup that otherwise succeeded (refused folders, per-folder problems). */
  problems: string[];
}

/** The backend's status, and on Windows the elevated setup's as read back (accounts, rule, firewall policy). */
export interface LifecycleStatus extends BackendStatus {
  windows?: WindowsSandboxStatus;
}

/** What Remove or "remove this workspace" did. Nothing is dropped from the record while it is in `failed`. */
export interface RemovalResult {
  /** What was taken back (paths, or a count of permissions on a path). */
  removed: string[];
  /** What was left in place on purpose, with why (the user wrote into a placeholder the sandbox made, say). */
  kept: { path: string; reason: string }[];
  /** What could not be removed, with why; running the command again retries it. */
  failed: { path: string; reason: string }[];
  /** Other facts worth saying (no administrator prompt was needed, a workspace was never changed...). */
  notes: string[];
}

export interface Lifecycle {
  /** What Set Up would do on this machine, one line per change, for a confirmation first. */
  describeSetUp(opts: SetUpOptions): Promise<string[]>;
  setUp(opts: SetUpOptions): Promise<SetUpResult>;
  /** `backend` is the caller's own when it has one (its status is reused); otherwise one is loaded. */
  status(opts: { stateDir: string; backend?: SandboxBackend }): Promise<LifecycleStatus>;
  /** Everything the sandbox left on this machine, then the state folder once nothing failed. Close backends first. */
  uninstall(opts: { stateDir: string; onProgress?: (message: string) => void }): Promise<RemovalResult>;
  /** Only what the sandbox did for these workspace folders; the rest stays. */
  removeWorkspace(opts: { stateDir: string; roots: string[] }): Promise<RemovalResult>;
}
