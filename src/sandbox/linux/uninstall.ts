/**
 * Takes back what the Linux backend left on disk, for `agent-sandbox uninstall` and the extension's Remove
 * command: the placeholders it created in workspaces (only those still empty and unchanged; the rest are listed
 * with the reason they were kept), the private temp folders, the ledger, and the state folder once it is empty.
 * Brokers talk over socketpairs inherited through Node's IPC channel, so there are no broker socket files to
 * remove. Idempotent. Loads no native code. Must never remove anything it did not create.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LIVE_DIR, withLiveCheck } from './live';
import { LEDGER_DIR, recordedPlaceholders, removePlaceholders, type Kept } from './placeholders';
import { proxySocketDir } from '../../network/shared';

export interface LinuxCleanup {
  /** Paths removed (placeholders and the private temp root). */
  removed: string[];
  /** Placeholders left in place, with why (the user wrote into them, or they were replaced). */
  kept: Kept[];
  /** Placeholders that could not be removed (still recorded, so running uninstall again retries them). */
  failed: Kept[];
  /** Sandboxes still running: their records stay (the state folder with them), so their end takes their things back. */
  running?: number;
}

/**
 * Anything a running sandbox (of any process) still relies on stays: its workspace's placeholders (removing one
 * would detach its read-only mount and make the path writable inside) and its private temp; each is listed as kept.
 */
export function removeLinuxSandboxState(stateDir: string): LinuxCleanup {
  if (!fs.existsSync(stateDir)) return { removed: [], kept: [], failed: [] };
  const result = withLiveCheck(stateDir, (inUse, live) => {
    const { removed, kept, failed } = removePlaceholders(stateDir, (p) => !inUse(p));
    const running = 'a sandbox that uses it is still running; run uninstall again once it has ended';
    const tmp = path.join(stateDir, 'tmp');
    for (const name of fs.existsSync(tmp) ? fs.readdirSync(tmp) : []) {
      const t = path.join(tmp, name);
      if (inUse(t)) {
        kept.push({ path: t, reason: running });
        continue;
      }
      fs.rmSync(t, { recursive: true, force: true });
      removed.push(t);
    }
    const held = new Set(kept.map((k) => k.path));
    for (const p of recordedPlaceholders(stateDir))
      if (inUse(p) && !held.has(p)) kept.push({ path: p, reason: running });
    for (const dir of [tmp, path.join(stateDir, LEDGER_DIR)]) removeIfEmpty(dir);
    return { removed, kept, failed, running: live };
  });
  // The allowlist proxy's socket folder: empty once no sandbox runs (each gateway removes its own folder).
  for (const dir of [path.join(stateDir, LIVE_DIR), proxySocketDir(stateDir), stateDir]) if (dir) removeIfEmpty(dir);
  return result;
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // Not empty (something else lives there, or an entry kept for a retry) or already gone.
  }
}
