/**
 * The contract between surfaces (CLI, VS Code) and platform backends. A backend executes a compiled plan and
 * nothing else; if it cannot apply the plan it throws SandboxError and never runs the command.
 */
import type { Readable, Writable } from 'node:stream';
import type { Plan } from '../policy/plan';

export interface SpawnSpec {
  /** argv[0] is the program, resolved on the sandbox's PATH. */
  argv: string[];
  cwd: string;
  /** `inherit` streams to the caller's own stdio (CLI); `pipe` exposes streams (tool, tasks). */
  stdio: 'inherit' | 'pipe';
  /** Allocate a terminal (interactive shells). */
  tty?: { cols: number; rows: number };
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The caller's environment, before the plan's scrubbing. Default: this process's (the CLI's warm broker passes its client's). */
  env?: NodeJS.ProcessEnv;
}

export interface ExitInfo {
  /** The CLI contract: the command's own code, 124 on timeout, 128+N when killed by signal N, 125 if never ran. */
  code: number;
  timedOut: boolean;
  signal?: string;
  durationMs: number;
}

export interface SandboxProcess {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly exited: Promise<ExitInfo>;
  /** Kills the whole process tree. Idempotent. */
  kill(): void;
  resize?(cols: number, rows: number): void;
}

/** What is actually enforced for a plan on this machine, for results and the UI. */
export interface Enforcement {
  filesystem: 'enforced' | 'partial' | 'advisory' | 'none';
  network: 'enforced' | 'advisory' | 'none';
  /** Human-readable notes, e.g. "Landlock ABI 7", "Landlock unavailable: bubblewrap only". */
  notes: string[];
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
  /** Applies the plan and starts the command; throws SandboxError when the sandbox cannot be applied. */
  spawn(plan: Plan, spec: SpawnSpec): Promise<SandboxProcess>;
  enforcement(plan: Plan): Enforcement;
  dispose(): Promise<void>;
}
