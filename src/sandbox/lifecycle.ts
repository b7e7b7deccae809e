/**
 * The sandbox's lifecycle on a machine, beside `backendFor`: Set Up, Status, Remove and "remove this workspace",
 * chosen by the same exhaustive switch over the platform, with one result type for what was removed, kept (with
 * why) and failed, and one pure renderer. The CLI and the extension both go through here, so they behave the same.
 * Platform lifecycles load lazily: importing this module loads no native library.
 */
import type { Platform } from '../policy';
import { assertNever } from '../policy/paths';
import type { BackendStatus, SandboxBackend } from './types';
import type { WindowsSandboxStatus } from './windows/setup/status';

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

export async function lifecycleFor(platform: Platform): Promise<Lifecycle> {
  switch (platform) {
    case 'linux':
      return (await import('./linux/lifecycle')).linuxLifecycle;
    case 'win32':
      return (await import('./windows/lifecycle')).windowsLifecycle;
    default:
      return assertNever(platform);
  }
}

/** One line per item, the same on every surface: removed, kept (and why), could not remove (and why), notes. */
export function removalLines(r: RemovalResult): string[] {
  return [
    ...r.removed.map((p) => `removed ${p}`),
    ...r.kept.map((k) => `kept ${k.path}: ${k.reason}`),
    ...r.failed.map((f) => `could not remove ${f.path}: ${f.reason}`),
    ...r.notes,
  ];
}

/** A one-line summary of a removal for a notification or the CLI's last line. */
export function removalSummary(what: string, r: RemovalResult): string {
  if (r.failed.length) return `${what}: ${r.failed.length} item(s) could not be removed; run it again (details above or in the log).`;
  return `${what}: done (${r.removed.length} removed, ${r.kept.length} kept).`;
}

/** The status as lines, for the CLI and the log. */
export function statusLines(s: LifecycleStatus): string[] {
  const lines = [`${s.state}: ${s.summary}`];
  if (s.fix) lines.push(`Fix: ${s.fix}`);
  for (const [k, v] of Object.entries(s.details)) lines.push(`${k}: ${v}`);
  const w = s.windows;
  if (w && w.state !== 'unsupported') {
    lines.push(`Elevated setup: ${w.state}: ${w.summary}`, `Setup version: ${w.version ?? 'none'}`, `Group AgentSandboxUsers: ${w.group}`);
    for (const u of w.users) lines.push(`Account ${u.name}: ${u.exists}${u.sid ? ` (${u.sid})` : ''}; your stored password: ${u.credentials ? 'yes' : 'no'}`);
    for (const r of w.rules) lines.push(`Firewall rule "${r.name}": exists ${r.exists}, as configured ${r.matches}`);
    lines.push(`Firewall policy: ${w.firewallPolicy}`);
    for (const n of w.notes) lines.push(`Note: ${n}`);
  }
  return lines;
}
