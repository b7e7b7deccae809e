/**
 * The placeholder ledger. Protected paths that do not exist yet get an empty placeholder in the user's workspace
 * (so bubblewrap has a mount point to make read-only); each one, and any folder made only to hold one, is recorded
 * as a small JSON file under `<stateDir>/linux-placeholders/` (one file per path: concurrent runs never lose an
 * entry). `removePlaceholders` takes back those that are still exactly what we made (same inode, still empty).
 * Must never remove anything a user put content in, nor anything it did not create.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const LEDGER_DIR = 'linux-placeholders';

interface Entry {
  path: string;
  kind: 'dir' | 'file';
  /** What a file placeholder was created with (empty when absent). */
  content?: string;
  dev: number;
  ino: number;
  created: string;
}

export interface Kept {
  path: string;
  reason: string;
}

/** Creates `p` (and any missing folders above it) unless it exists; records what it created. */
export function createPlaceholder(stateDir: string, p: string, kind: 'dir' | 'file', content = ''): void {
  if (exists(p)) return;
  const missing: string[] = [];
  for (let q = path.dirname(p); !exists(q); q = path.dirname(q)) missing.unshift(q);
  for (const dir of missing) makeOne(stateDir, dir, 'dir', '');
  makeOne(stateDir, p, kind, content);
  if (!exists(p)) throw new Error(`placeholder ${p} was not created`);
}

/** Creates exactly one path; records it only if this call created it (EEXIST: someone else did, not ours). */
function makeOne(stateDir: string, p: string, kind: 'dir' | 'file', content: string): void {
  try {
    if (kind === 'dir') fs.mkdirSync(p);
    else fs.writeFileSync(p, content, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw e;
  }
  const st = fs.lstatSync(p);
  const entry: Entry = { path: p, kind, ...(content ? { content } : {}), dev: st.dev, ino: st.ino,
    created: new Date().toISOString() };
  const dir = path.join(stateDir, LEDGER_DIR);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${createHash('sha256').update(p).digest('hex').slice(0, 32)}.json`);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(entry));
  fs.renameSync(`${file}.tmp`, file);
}

/**
 * Removes every recorded placeholder that is still empty and still the one we made, deepest first (only those
 * `which` accepts: the others are left untouched and recorded). Entries are dropped once decided (removed, gone,
 * or now the user's); an entry whose removal failed stays for a retry.
 */
export function removePlaceholders(stateDir: string, which: (p: string) => boolean = () => true):
  { removed: string[]; kept: Kept[]; failed: Kept[] } {
  const dir = path.join(stateDir, LEDGER_DIR);
  const removed: string[] = [];
  const kept: Kept[] = [];
  const failed: Kept[] = [];
  const entries = readLedger(dir).filter((x) => which(x.entry.path)).sort((a, b) => b.entry.path.length - a.entry.path.length);
  for (const { file, entry } of entries) {
    const outcome = takeBack(entry);
    if (outcome === 'removed') removed.push(entry.path);
    else if (outcome !== 'gone') (outcome.retry ? failed : kept).push({ path: entry.path, reason: outcome.reason });
    if (outcome === 'removed' || outcome === 'gone' || !outcome.retry) fs.rmSync(file, { force: true });
  }
  return { removed, kept, failed };
}

type Outcome = 'removed' | 'gone' | { reason: string; retry: boolean };

function takeBack(e: Entry): Outcome {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(e.path);
  } catch {
    return 'gone';
  }
  if (st.dev !== e.dev || st.ino !== e.ino) return { reason: 'replaced since Agent Sandbox created it', retry: false };
  try {
    if (e.kind === 'dir') {
      if (!st.isDirectory()) return { reason: 'no longer a folder', retry: false };
      const n = fs.readdirSync(e.path).length;
      if (n) return { reason: `not empty (${n} entr${n === 1 ? 'y' : 'ies'}): it is yours now`, retry: false };
      fs.rmdirSync(e.path);
    } else {
      if (!st.isFile()) return { reason: 'no longer a file', retry: false };
      if (fs.readFileSync(e.path, 'utf8') !== (e.content ?? '')) {
        return { reason: `has content (${st.size} bytes): it is yours now`, retry: false };
      }
      fs.unlinkSync(e.path);
    }
  } catch (err) {
    return { reason: `could not remove it: ${(err as Error).message}`, retry: true };
  }
  return 'removed';
}

function readLedger(dir: string): { file: string; entry: Entry }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: { file: string; entry: Entry }[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    if (!name.endsWith('.json')) {
      fs.rmSync(file, { force: true }); // an interrupted write
      continue;
    }
    try {
      out.push({ file, entry: JSON.parse(fs.readFileSync(file, 'utf8')) as Entry });
    } catch {
      // Unreadable entry: leave it, so nothing we cannot vouch for is removed.
    }
  }
  return out;
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
