/**
 * The real SecurityStore: file DACLs through native-bindings/win32/acl, and the folders and empty placeholder
 * files created for missing protected paths, recorded in the shared placeholder ledger (../placeholders) under
 * `<stateDir>/win32-placeholders/`, so one is removed only while it is the same file or folder it made (same
 * inode) and still empty. Must never write owners or SACLs, and never delete anything that is not empty.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  applyFileEntries,
  applyFileEntriesAsync,
  applyFileEntriesInPlace,
  readFileEntries,
} from '../../../native-bindings/win32/acl';
import { volumeInfo } from '../../../native-bindings/win32/volume';
import { PlaceholderLedger } from '../placeholders';
import type { SecurityStore } from './ledger';

export const PLACEHOLDER_DIR = 'win32-placeholders';

function kind(p: string): 'dir' | 'file' | 'missing' {
  try {
    return fs.statSync(p).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

/** The missing folders above `p` (not `p` itself), outermost first. */
function missingParents(p: string): string[] {
  const out: string[] = [];
  for (let dir = path.dirname(p); dir !== path.dirname(dir) && kind(dir) === 'missing'; dir = path.dirname(dir))
    out.unshift(dir);
  return out;
}

/** The store for the sandbox whose state lives in `stateDir` (where its placeholders are recorded). */
export function fileSecurityStore(stateDir: string): SecurityStore {
  const placeholders = new PlaceholderLedger(path.join(stateDir, PLACEHOLDER_DIR));
  return {
    kind,
    create(p, what, content = '') {
      const missing = missingParents(p);
      const made: string[] = [];
      for (const dir of missing) if (placeholders.make(dir, 'dir')) made.push(dir);
      // Someone else created it meanwhile: it is not ours to delete later.
      if (placeholders.make(p, what, content)) made.push(p);
      return made;
    },
    removeIfEmpty(p, content = '') {
      const recorded = placeholders.recordOf(p);
      if (recorded) {
        const outcome = placeholders.takeBack(recorded);
        if (typeof outcome === 'object' && outcome.retry) throw new Error(outcome.reason);
        return outcome === 'removed';
      }
      // Made before the placeholder ledger recorded identities: the content check alone.
      const st = fs.statSync(p, { throwIfNoEntry: false });
      if (!st) return false;
      if (st.isDirectory()) {
        if (fs.readdirSync(p).length) return false;
        fs.rmdirSync(p);
        return true;
      }
      if (st.size !== Buffer.byteLength(content) || fs.readFileSync(p, 'utf8') !== content) return false;
      fs.unlinkSync(p);
      return true;
    },
    entries: (p) => readFileEntries(p),
    apply: (p, aces) => applyFileEntries(p, aces),
    applyAsync: (p, aces) => applyFileEntriesAsync(p, aces),
    applyInPlace: (p, aces) => applyFileEntriesInPlace(p, aces),
    volume(p) {
      let at = p;
      while (kind(at) === 'missing' && path.dirname(at) !== at) at = path.dirname(at);
      return volumeInfo(at);
    },
  };
}
