/**
 * The real SecurityStore: file DACLs through native-bindings/win32/acl, and the folders and empty placeholder
 * files created for missing protected paths. Must never write owners or SACLs, and never delete anything that is
 * not empty.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyFileEntries, applyFileEntriesAsync, readFileEntries } from '../../../native-bindings/win32/acl';
import type { SecurityStore } from './ledger';

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
  for (let dir = path.dirname(p); dir !== path.dirname(dir) && kind(dir) === 'missing'; dir = path.dirname(dir)) out.unshift(dir);
  return out;
}

export const fileSecurityStore: SecurityStore = {
  kind,
  create(p, what, content = '') {
    const made = [...missingParents(p), p];
    if (what === 'dir') {
      fs.mkdirSync(p, { recursive: true });
    } else {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      try {
        fs.writeFileSync(p, content, { flag: 'wx' });
      } catch (e) {
        // Someone else created it meanwhile: it is not ours to delete later.
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return made.slice(0, -1);
        throw e;
      }
    }
    return made;
  },
  removeIfEmpty(p, content = '') {
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
};
