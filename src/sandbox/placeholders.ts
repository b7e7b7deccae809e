/**
 * The one placeholder ledger, for both platforms. A protected path that does not exist yet gets an empty
 * placeholder in the user's workspace (Linux: a mount point for bubblewrap to make read-only; Windows: a path to put
 * a deny ACE on), and so may each folder made only to hold one. Each is recorded as a small JSON file, one per path
 * (concurrent runs never lose an entry), with the identity (device and inode) it was made with. Taking one back
 * removes it only while it is still exactly what was made: the same inode, and empty (a folder) or holding what it
 * was made with (a file). Must never remove anything a user put content in, replaced, or that it did not create.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../state-file';

export interface MadePath {
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

/** What taking one path back did: removed it, found it gone, or left it (with why, and whether to retry). */
export type TakeBack = 'removed' | 'gone' | { reason: string; retry: boolean };

export class PlaceholderLedger {
  /** `dir` holds the records (created on first use, private to the user). */
  constructor(
    readonly dir: string,
    private readonly caseInsensitive = process.platform === 'win32',
  ) {}

  /** Creates exactly `p` and records it; false when it already existed (someone else made it: not ours). */
  make(p: string, kind: 'dir' | 'file', content = ''): boolean {
    try {
      if (kind === 'dir') fs.mkdirSync(p);
      else fs.writeFileSync(p, content, { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    this.record(p, kind, content, fs.lstatSync(p));
    return true;
  }

  /** Records `p`, made by the caller with identity `st` (Linux makes its placeholders through folder descriptors). */
  record(p: string, kind: 'dir' | 'file', content: string, st: { dev: number; ino: number }): void {
    const made: MadePath = {
      path: p,
      kind,
      ...(content ? { content } : {}),
      dev: st.dev,
      ino: st.ino,
      created: new Date().toISOString(),
    };
    writeJsonAtomic(this.fileOf(p), made, { compact: true, dirMode: 0o700 });
  }

  /** The record of `p`, when this ledger made it. */
  recordOf(p: string): MadePath | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.fileOf(p), 'utf8')) as MadePath;
    } catch {
      return undefined;
    }
  }

  /** Every record (unreadable ones are left alone, so nothing we cannot vouch for is removed). */
  records(): MadePath[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: MadePath[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      if (!name.endsWith('.json')) {
        fs.rmSync(file, { force: true }); // an interrupted write
        continue;
      }
      try {
        out.push(JSON.parse(fs.readFileSync(file, 'utf8')) as MadePath);
      } catch {
        // unreadable: kept
      }
    }
    return out;
  }

  /**
   * Takes `m` back if it is still what was made (`remove` decides and removes; Linux walks folder descriptors);
   * drops its record once decided (a failed removal keeps it for a retry).
   */
  takeBack(m: MadePath, remove: (m: MadePath) => TakeBack = takeBackOne): TakeBack {
    const outcome = remove(m);
    if (outcome === 'removed' || outcome === 'gone' || !outcome.retry) this.forget(m.path);
    return outcome;
  }

  forget(p: string): void {
    fs.rmSync(this.fileOf(p), { force: true });
  }

  private fileOf(p: string): string {
    const key = this.caseInsensitive ? p.toLowerCase() : p;
    return path.join(this.dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  }
}

function takeBackOne(m: MadePath): TakeBack {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(m.path);
  } catch {
    return 'gone';
  }
  if (st.dev !== m.dev || st.ino !== m.ino) return { reason: 'replaced since Agent Sandbox created it', retry: false };
  try {
    if (m.kind === 'dir') {
      if (!st.isDirectory()) return { reason: 'no longer a folder', retry: false };
      const n = fs.readdirSync(m.path).length;
      if (n) return { reason: `not empty (${n} entr${n === 1 ? 'y' : 'ies'}): it is yours now`, retry: false };
      fs.rmdirSync(m.path);
    } else {
      if (!st.isFile()) return { reason: 'no longer a file', retry: false };
      if (fs.readFileSync(m.path, 'utf8') !== (m.content ?? '')) {
        return { reason: `has content (${st.size} bytes): it is yours now`, retry: false };
      }
      fs.unlinkSync(m.path);
    }
  } catch (err) {
    return { reason: `could not remove it: ${(err as Error).message}`, retry: true };
  }
  return 'removed';
}
