/**
 * Types shared by the verifier (outside the sandbox), the probe (inside it) and the report. The probe reports raw
 * facts; only the verifier decides what a fact means. Nothing here may depend on a backend.
 */
import type { Platform } from '../policy/plan';
import type { Enforcement } from '../sandbox/types';

/** What one check saw. `FAILED`: the check could not tell (a fixture or the probe broke), never a pass. */
export type Observed = 'SUCCEEDED' | 'DENIED' | 'FAILED' | 'NOT_ENFORCED';
export type Expected = 'SUCCEEDED' | 'DENIED';

export interface VerifyCheck {
  id: string;
  title: string;
  expected: Expected;
  observed: Observed;
  pass: boolean;
  /** One line for people: what this row means for them. */
  meaning: string;
  /** The evidence: error code, path, what the host side saw. */
  detail?: string;
}

export interface VerifyReport {
  /** True only when every check passed. */
  ok: boolean;
  platform: Platform;
  network: 'offline' | 'allowlist' | 'online';
  /** What the backend says it enforces for this plan, or undefined when it could not be asked. */
  enforcement?: Enforcement;
  /** Plan warnings, enforcement notes and checks left out (for example, no non-loopback interface). */
  notes: string[];
  checks: VerifyCheck[];
}

/**
 * Internal test hook, never a user setting: deliberately weakens the compiled plan so tests can prove the verifier
 * notices. Each hole must make exactly its checks fail.
 */
export type VerifyHole =
  | 'network'
  | 'protected-path'
  | 'deny-read'
  | 'secret-env'
  | 'home-write'
  | 'orphan'
  | 'host-socket'
  | 'allowlist-direct'
  | 'allowlist-all'
  | 'allowlist-private'
  // Windows: each leaves out one launch protection a Windows probe checks (./windows-probes names which).
  | 'win-no-pseudoconsole'
  | 'win-own-sid'
  | 'win-no-private-desktop'
  | 'win-no-ui-limits'
  | 'win-no-safe-directory'
  | 'win-no-ancestor-traverse';

/** One thing the probe attempts. Paths are as the sandboxed process sees them. */
export type ProbeAction =
  | {
      id: string;
      kind: 'write';
      path: string;
      /** Must exist in the probe's view first, or the attempt says nothing (reported as ANCHOR_MISSING). */
      anchor: string;
      /** Create missing parent folders first (protected paths that do not exist yet). */
      mkdirParent?: boolean;
      /** Open an existing file for writing without changing it (never damages a user's file). */
      openOnly?: boolean;
      /** Like openOnly when `path` already exists inside the sandbox (a placeholder the sandbox made). */
      openIfExists?: boolean;
      content: string;
    }
  | { id: string; kind: 'write-temp'; name: string; content: string }
  | { id: string; kind: 'read'; path: string; anchor: string; nonce: string }
  | { id: string; kind: 'tcp'; host: string; port: number; nonce: string }
  /** Connects to a pathname Unix socket and sends the nonce (a host daemon's socket stand-in). */
  | { id: string; kind: 'unix'; path: string; nonce: string }
  | { id: string; kind: 'dns'; server: string; port: number; name: string }
  | { id: string; kind: 'env'; nonce: string }
  /**
   * Allowlist: CONNECT through the proxy named by the sandbox's HTTPS_PROXY (with its credential, or without it),
   * then send the nonce line. Fails with PROXY_<status> when the proxy refuses.
   */
  | { id: string; kind: 'proxy'; host: string; port: number; nonce: string; credential: boolean }
  | { id: string; kind: 'orphan'; heartbeat: string; stop: string };

export interface ProbeSpec {
  actions: ProbeAction[];
}

/** One raw fact from the probe, printed as a JSON line prefixed with PROBE_PREFIX. */
export interface ProbeFact {
  id: string;
  /** The attempted operation completed. */
  ok: boolean;
  /** Error code (`EACCES`, `EROFS`, `ANCHOR_MISSING`, `TIMEOUT`...) when it did not. */
  code?: string;
  message?: string;
  /** What was read or seen (read content, leaked variable names, the temp path written). */
  value?: string;
}

export const PROBE_PREFIX = 'agent-sandbox-probe:';

/** The probe's `value` for a read whose content carried the verifier's nonce. */
export const SECRET_SEEN = 'secret';
