/**
 * Linux placeholders: protected paths that do not exist yet get an empty placeholder in the user's workspace (so
 * bubblewrap has a mount point to make read-only), recorded in the shared placeholder ledger (../placeholders)
 * under `<stateDir>/linux-placeholders/`. `removePlaceholders` takes back those that are still exactly what we
 * made (same inode, still empty). Must never remove anything a user put content in, nor anything it did not create.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PlaceholderLedger, type Kept, type MadePath, type TakeBack } from '../placeholders';

export type { Kept };

export const LEDGER_DIR = 'linux-placeholders';

const ledgerOf = (stateDir: string) => new PlaceholderLedger(path.join(stateDir, LEDGER_DIR));

const O_CLOEXEC = 0o2000000;

/** Folders are walked with these: a component that is now a symbolic link (or not a folder) fails to open. */
const WALK = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW | O_CLOEXEC;

/**
 * Creates `p` (and any missing folders above it) unless it exists; records what it created. Race-free against a
 * sandbox that can write above `p` (nested roots: another sandbox's root contains this one's) swapping a folder
 * for a symbolic link: every component from `/` is opened without following links, and each creation happens
 * inside the folder descriptor already held (through its /proc/self/fd link, which names that very folder). Then
 * the path is checked to still lead to what was made; if it does not (a folder renamed away meanwhile), what was
 * made is taken back and the creation refused.
 */
export function createPlaceholder(stateDir: string, p: string, kind: 'dir' | 'file', content = ''): void {
  if (exists(p)) return;
  const ledger = ledgerOf(stateDir);
  const parts = p.split('/').filter(Boolean);
  let dir = fs.openSync('/', WALK);
  try {
    for (let i = 0; i < parts.length - 1; i++) {
      const at = '/' + parts.slice(0, i + 1).join('/');
      let next = openDir(dir, parts[i], at);
      if (next === undefined) {
        fs.mkdirSync(inside(dir, parts[i]));
        next = openDir(dir, parts[i], at);
        if (next === undefined) throw refused(p, at);
        ledger.record(at, 'dir', '', checked(p, at, next, dir, parts[i]));
      }
      fs.closeSync(dir);
      dir = next;
    }
    const name = parts[parts.length - 1];
    if (kind === 'dir') {
      fs.mkdirSync(inside(dir, name));
      const made = openDir(dir, name, p);
      if (made === undefined) throw refused(p, p);
      try {
        ledger.record(p, kind, content, checked(p, p, made, dir, name));
      } finally {
        fs.closeSync(made);
      }
    } else {
      const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
      const made = fs.openSync(inside(dir, name), flags | O_CLOEXEC, 0o644);
      try {
        if (content) fs.writeSync(made, content);
        ledger.record(p, kind, content, checked(p, p, made, dir, name));
      } finally {
        fs.closeSync(made);
      }
    }
  } finally {
    fs.closeSync(dir);
  }
}

/** `name` inside the folder open as `fd`, as a path that resolves through that descriptor, not through names. */
function inside(fd: number, name: string): string {
  return `/proc/self/fd/${fd}/${name}`;
}

/** Opens folder `name` inside `fd` without following a link; undefined when it does not exist. */
function openDir(fd: number, name: string, at: string): number | undefined {
  try {
    return fs.openSync(inside(fd, name), WALK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw refused(at, at);
    throw e;
  }
}

/**
 * The identity of what was made (open as `fd`), once `at` is checked to still lead to it; otherwise it is taken
 * back (through the parent's descriptor) and the creation refused.
 */
function checked(p: string, at: string, fd: number, parent: number, name: string): fs.Stats {
  const st = fs.fstatSync(fd);
  const now = fs.lstatSync(at, { throwIfNoEntry: false });
  if (now && now.dev === st.dev && now.ino === st.ino) return st;
  try {
    if (st.isDirectory()) fs.rmdirSync(inside(parent, name));
    else fs.unlinkSync(inside(parent, name));
  } catch {
    // Not ours to chase further: it is no longer where it was made.
  }
  throw refused(p, at);
}

function refused(p: string, at: string): Error {
  return new Error(
    `the placeholder ${p} was not created: ${at} is a symbolic link or not a folder now, or moved while it was ` +
      'being made (another sandbox writing above this workspace?)',
  );
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
    const outcome = ledger.takeBack(m, takeBackAt);
    if (outcome === 'removed') removed.push(m.path);
    else if (outcome !== 'gone') (outcome.retry ? failed : kept).push({ path: m.path, reason: outcome.reason });
  }
  return { removed, kept, failed };
}

/**
 * Takes one placeholder back the way it was made: its folder is reached by walking descriptors from `/` without
 * following links, and it is checked (same inode; empty, or holding what it was made with) and removed inside that
 * folder's descriptor. A folder above it swapped for a symbolic link (by a sandbox writing above this workspace) can
 * neither redirect the check nor the removal to a host path.
 */
function takeBackAt(m: MadePath): TakeBack {
  const parts = m.path.split('/').filter(Boolean);
  const name = parts.pop()!;
  let dir: number;
  try {
    dir = walkTo(parts);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'gone';
    if (code === 'ELOOP' || code === 'ENOTDIR')
      return { reason: 'a folder above it is a symbolic link or not a folder now', retry: false };
    return { reason: `could not reach it: ${(e as Error).message}`, retry: true };
  }
  try {
    return removeInside(dir, name, m);
  } finally {
    fs.closeSync(dir);
  }
}

/** Opens the folder `/parts...` component by component, never following a link (throws ELOOP/ENOTDIR if one is). */
function walkTo(parts: string[]): number {
  let dir = fs.openSync('/', WALK);
  try {
    for (const part of parts) {
      const next = fs.openSync(inside(dir, part), WALK);
      fs.closeSync(dir);
      dir = next;
    }
    return dir;
  } catch (e) {
    fs.closeSync(dir);
    throw e;
  }
}

/** Checks and removes `name` inside the folder open as `dir`, if it is still exactly the placeholder `m`. */
function removeInside(dir: number, name: string, m: MadePath): TakeBack {
  const at = inside(dir, name);
  let fd: number;
  try {
    fd = fs.openSync(at, (m.kind === 'dir' ? WALK : fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW) | O_CLOEXEC);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'gone';
    if (code === 'ELOOP' || code === 'ENOTDIR')
      return { reason: `no longer a ${m.kind === 'dir' ? 'folder' : 'file'}`, retry: false };
    return { reason: `could not open it: ${(e as Error).message}`, retry: true };
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.dev !== m.dev || st.ino !== m.ino)
      return { reason: 'replaced since Agent Sandbox created it', retry: false };
    if (m.kind === 'dir') {
      const n = fs.readdirSync(`/proc/self/fd/${fd}`).length;
      if (n) return { reason: `not empty (${n} entr${n === 1 ? 'y' : 'ies'}): it is yours now`, retry: false };
    } else {
      if (!st.isFile()) return { reason: 'no longer a file', retry: false };
      if (fs.readFileSync(fd, 'utf8') !== (m.content ?? ''))
        return { reason: `has content (${st.size} bytes): it is yours now`, retry: false };
    }
    // Still the same entry of the same folder: the name is removed inside the descriptor checked above.
    const now = fs.lstatSync(at, { throwIfNoEntry: false });
    if (!now || now.dev !== m.dev || now.ino !== m.ino)
      return { reason: 'replaced while being taken back', retry: true };
    if (m.kind === 'dir') fs.rmdirSync(at);
    else fs.unlinkSync(at);
  } catch (e) {
    return { reason: `could not remove it: ${(e as Error).message}`, retry: true };
  } finally {
    fs.closeSync(fd);
  }
  return 'removed';
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
