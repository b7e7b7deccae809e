/**
 * World-writable audit selection. Everyone is a restricting SID of the sandbox token, so any folder that grants
 * Everyone (or the logon SID) write access is writable from the sandbox. This picks the folders to deny, within a
 * time budget, and says what it did not get to. Pure: the probe and the clock are injected.
 * Must never select a writable root, anything inside one, or a folder whose denial would be inherited into one.
 */
import * as path from 'node:path';
import { FileRights } from '../../policy/compile-win32';
import type { Ace } from './ledger';
import { envGet } from './win-env';

const GENERIC_WRITE = 0x40000000;
const GENERIC_ALL = 0x10000000;
const WRITE_BITS = FileRights.FILE_WRITE_DATA | FileRights.FILE_APPEND_DATA | GENERIC_WRITE | GENERIC_ALL;

/** True when an allow ACE for one of `sids` grants any write right. */
export function grantsWrite(entries: Ace[], sids: string[]): boolean {
  const wanted = new Set(sids.map((s) => s.toUpperCase()));
  return entries.some(
    (e) => e.mode !== 'deny' && e.mode !== 'revoke' && wanted.has(e.sid.toUpperCase()) && (e.mask & WRITE_BITS) !== 0,
  );
}

export interface AuditTarget {
  path: string;
  /** `tree`: OI|CI deny; `self`: this folder only, because it is an ancestor of a writable root. */
  scope: 'tree' | 'self';
}

export interface AuditResult {
  targets: AuditTarget[];
  scanned: number;
  /** Candidates not examined because the budget ran out. */
  unscanned: string[];
}

const key = (p: string) => path.win32.normalize(p).toLowerCase().replace(/\\+$/, '');
const isWithin = (child: string, parent: string) => {
  const c = key(child),
    p = key(parent);
  return c === p || c.startsWith(p + '\\');
};

export function selectAuditTargets(
  candidates: string[],
  writableRoots: string[],
  probe: (dir: string) => boolean,
  budgetMs: number,
  now: () => number = Date.now,
): AuditResult {
  const start = now();
  const seen = new Set<string>();
  const result: AuditResult = { targets: [], scanned: 0, unscanned: [] };
  for (const dir of candidates) {
    const k = key(dir);
    if (!k || seen.has(k)) continue;
    seen.add(k);
    if (writableRoots.some((r) => isWithin(dir, r))) continue;
    if (now() - start > budgetMs) {
      result.unscanned.push(dir);
      continue;
    }
    result.scanned++;
    if (!probe(dir)) continue;
    const ancestorOfRoot = writableRoots.some((r) => isWithin(r, dir));
    result.targets.push({ path: dir, scope: ancestorOfRoot ? 'self' : 'tree' });
  }
  return result;
}

/** The usual places: PATH entries, the system drive root, %PUBLIC%, ProgramData, and the system temp. */
export function defaultAuditCandidates(env: Record<string, string | undefined>): string[] {
  const drive = envGet(env, 'SystemDrive') ?? 'C:';
  const root = envGet(env, 'SystemRoot');
  return [
    ...(envGet(env, 'PATH') ?? '')
      .split(';')
      .filter(Boolean)
      .map((d) => d.replace(/^"(.*)"$/, '$1')),
    `${drive}\\`,
    envGet(env, 'PUBLIC'),
    envGet(env, 'ProgramData'),
    root ? `${root}\\Temp` : undefined,
  ].filter((d): d is string => Boolean(d));
}
