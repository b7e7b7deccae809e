/**
 * The types between the policy front end (compile.ts: parse, canonicalize, check roots) and the platform
 * compilers: what a compile is given (CompileContext, with the machine's facts) and the resolved policy each
 * platform compiler turns into a plan. Types only, so the compilers and the front end import it without a cycle.
 */
import type { FsView } from './paths';
import type { EnvPlan, Platform, ProtectedPath } from './plan';
import type { Policy } from './schema';

export interface Win32Context {
  /** Which Windows backend will run the plan. Default `unelevated`. */
  windowsMode?: 'unelevated' | 'elevated';
  /** The sandbox group's SID, once setup created it; absent, the plan names the group symbolically. */
  groupSid?: string;
  /** Persisted capability SID per canonical workspace root (lower-cased key). */
  capabilitySids?: Record<string, string>;
  /** Folders the sandbox user must be able to read and execute in elevated mode (VS Code, Node, git, tools). */
  runtimeDirs?: string[];
  /** Folders scanned by the world-writable audit (PATH entries, C:\, %PUBLIC%, ProgramData, temp). */
  auditPaths?: string[];
}

/** What a backend knows about the machine before compiling, and the plan depends on (`backend.planFacts()`). */
export type PlanFacts = Pick<Win32Context, 'windowsMode' | 'groupSid' | 'runtimeDirs' | 'capabilitySids'>;

export interface CompileContext extends Win32Context {
  platform: Platform;
  home: string;
  userTemp: string;
  /** The caller's environment: scrubbed into the plan's env, and used to expand `%VAR%` in denyRead. */
  env: Record<string, string | undefined>;
  /** Where the sandbox keeps its state (private temp, ledger). Extension storage, or the CLI's state dir. */
  stateDir: string;
  fs?: FsView;
  /** Linux: paths of the host's listening Unix sockets (from /proc/net/unix), hidden unless inside a root. */
  listeningSockets?: string[];
  /** Previews only (`agent-sandbox plan`): a missing root becomes a warning instead of an error. */
  allowMissingRoots?: boolean;
}

/** A policy with every path canonical and every root checked. Input to the platform compilers. */
export interface ResolvedPolicy {
  policy: Policy;
  platform: Platform;
  workspaceRoots: string[];
  writableRoots: string[];
  protectedPaths: ProtectedPath[];
  denyRead: string[];
  tempDir: string;
  env: EnvPlan;
  /** Workspace files that run on the host but stay writable, each naming the setting that protects it. */
  unprotected: string[];
}
