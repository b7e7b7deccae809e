/**
 * The sandbox's lifecycle on a machine, beside `backendFor`: Set Up, Status, Remove and "remove this workspace",
 * chosen by the same exhaustive switch over the platform, with one result type for what was removed, kept (with
 * why) and failed, and one pure renderer. The CLI and the extension both go through here, so they behave the same.
 * Platform lifecycles load lazily: importing this module loads no native library.
 */
import type { Platform } from '../policy';
import { assertNever } from '../policy/paths';
import type { Lifecycle, LifecycleStatus, RemovalResult } from './types';

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
  if (r.failed.length)
    return `${what}: ${r.failed.length} item(s) could not be removed; run it again (details above or in the log).`;
  return `${what}: done (${r.removed.length} removed, ${r.kept.length} kept).`;
}

/** The status as lines, for the CLI and the log. */
export function statusLines(s: LifecycleStatus): string[] {
  const lines = [`${s.state}: ${s.summary}`];
  if (s.fix) lines.push(`Fix: ${s.fix}`);
  for (const [k, v] of Object.entries(s.details)) lines.push(`${k}: ${v}`);
  const w = s.windows;
  if (w && w.state !== 'unsupported') {
    lines.push(
      `Elevated setup: ${w.state}: ${w.summary}`,
      `Setup version: ${w.version ?? 'none'}`,
      `Group AgentSandboxUsers: ${w.group}`,
    );
    for (const u of w.users)
      lines.push(
        `Account ${u.name}: ${u.exists}${u.sid ? ` (${u.sid})` : ''}; your stored password: ${u.credentials ? 'yes' : 'no'}`,
      );
    for (const r of w.rules) lines.push(`Firewall rule "${r.name}": exists ${r.exists}, as configured ${r.matches}`);
    lines.push(`Firewall policy: ${w.firewallPolicy}`);
    for (const n of w.notes) lines.push(`Note: ${n}`);
  }
  return lines;
}
