/** The real SecurityStore: file DACLs through native-bindings/win32/acl. Must never write owners or SACLs. */
import * as fs from 'node:fs';
import { applyFileEntries, readFileEntries } from '../../../native-bindings/win32/acl';
import type { SecurityStore } from './ledger';

export const fileSecurityStore: SecurityStore = {
  kind(p) {
    try {
      return fs.statSync(p).isDirectory() ? 'dir' : 'file';
    } catch {
      return 'missing';
    }
  },
  create(p, kind) {
    if (kind === 'dir') fs.mkdirSync(p, { recursive: true });
    else fs.writeFileSync(p, '', { flag: 'a' });
  },
  entries: (p) => readFileEntries(p),
  apply: (p, aces) => applyFileEntries(p, aces),
};
