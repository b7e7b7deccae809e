/**
 * Linux placeholders: protected paths that do not exist yet get an empty placeholder in the user's workspace (so
 * bubblewrap has a mount point to make read-only), recorded in the shared placeholder ledger (../placeholders)
 * under `<stateDir>/linux-placeholders/`. `removePlaceholders` takes back those that are still exactly what we
 * made (same inode, still empty). Must never remove anything a user put content in, nor anything it did not create.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PlaceholderLedger, type Kept } from '../placeholders';

export type { Kept };

export const LEDGER_DIR = 'linux-placeholders';

const ledgerOf = (stateDir: string) => new PlaceholderLedger(path.join(stateDir, LEDGER_DIR));

/** Creates `p` (and any missing folders above it) unless it exists; records what it created. */
export function createPlaceholder(stateDir: string, p: string, kind: 'dir' | 'file', content = ''): void {
  if (exists(p)) return;
  const ledger = ledgerOf(stateDir);
  const missing: string[] = [];
  for (let q = path.dirname(p); !exists(q); q = path.dirname(q)) missing.unshift(q);
  for (const dir of missing) ledger.make(dir, 'dir');
  ledger.make(p, kind, content);
  if (!exists(p)) throw new Error(`placeholder ${p} was not created`);
}

/**
 * Removes every recorded placeholder that is still empty and still the one we made, deepest first (only those
 * `which` accepts: the others are left untouched and recorded). Entries are dropped once decided (removed, gone,
 * or now the user's); an entry whose removal failed stays for a retry.
 */
export function removePlaceholders(
  stateDir: string,
  which: (p: string) => boolean = () => true,
): { removed: string[]; kept: Kept[]; failed: Kept[] } {
  const ledger = ledgerOf(stateDir);
  const removed: string[] = [];
  const kept: Kept[] = [];
  const failed: Kept[] = [];
  for (const m of ledger
    .records()
    .filter((r) => which(r.path))
    .sort((a, b) => b.path.length - a.path.length)) {
    const outcome = ledger.takeBack(m);
    if (outcome === 'removed') removed.push(m.path);
    else if (outcome !== 'gone') (outcome.retry ? failed : kept).push({ path: m.path, reason: outcome.reason });
  }
  return { removed, kept, failed };
}

/** Paths still recorded in the ledger. */
export function recordedPlaceholders(stateDir: string): string[] {
  return ledgerOf(stateDir)
    .records()
    .map((m) => m.path);
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
