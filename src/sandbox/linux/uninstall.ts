/**
 * Takes back what the Linux backend left on disk, for `agent-sandbox uninstall` and the extension's Remove
 * command: the placeholders it created in workspaces (only those still empty and unchanged; the rest are listed
 * with the reason they were kept), the private temp folders, the ledger, and the state folder once it is empty.
 * Brokers talk over socketpairs inherited through Node's IPC channel, so there are no broker socket files to
 * remove. Idempotent. Loads no native code. Must never remove anything it did not create.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LEDGER_DIR, removePlaceholders, type Kept } from './placeholders';
import { proxySocketDir } from '../../network/shared';

export interface LinuxCleanup {
  /** Paths removed (placeholders and the private temp root). */
  removed: string[];
  /** Placeholders left in place, with why (the user wrote into them, or they were replaced). */
  kept: Kept[];
  /** Placeholders that could not be removed (still recorded, so running uninstall again retries them). */
  failed: Kept[];
}

/** Close every Linux backend first: a running sandbox still uses its temp folder. */
export function removeLinuxSandboxState(stateDir: string): LinuxCleanup {
  const { removed, kept, failed } = removePlaceholders(stateDir);
  const tmp = path.join(stateDir, 'tmp');
  if (fs.existsSync(tmp)) {
    fs.rmSync(tmp, { recursive: true, force: true });
    removed.push(tmp);
  }
  // The allowlist proxy's socket folder: empty once no sandbox runs (each gateway removes its own folder).
  for (const dir of [path.join(stateDir, LEDGER_DIR), proxySocketDir(stateDir), stateDir]) removeIfEmpty(dir);
  return { removed, kept, failed };
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // Not empty (something else lives there, or an entry kept for a retry) or already gone.
  }
}
