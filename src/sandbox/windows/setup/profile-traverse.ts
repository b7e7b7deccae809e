/**
 * Which folders inside the developer's profile the sandbox group must be able to pass through (review §3.4): Node
 * `lstat`s every component of a path (realpath), and `C:\Users\<dev>` and its children grant only the developer,
 * SYSTEM and Administrators. For each target (a workspace root, a runtime or temp folder) under the profile, the
 * folders from the profile root (inclusive) down to the target (exclusive) get one allow ACE: traverse, read
 * attributes and synchronize, with no inheritance flags, written on that folder alone (never propagated).
 * Pure. Must never name a folder above the profile root, the target itself, or anything outside the profile.
 */
import * as path from 'node:path';
import type { AccessMask } from '../../../policy';
import { FileRights, INHERIT_NONE, mask } from '../../../policy/compile-win32';

/** FILE_TRAVERSE (= FILE_EXECUTE on a folder) | FILE_READ_ATTRIBUTES | SYNCHRONIZE: no listing, no reading. */
export const TRAVERSE_MASK: AccessMask = mask(FileRights, ['FILE_EXECUTE', 'FILE_READ_ATTRIBUTES', 'SYNCHRONIZE']);
/** No inheritance flags: the ACE applies to the folder itself and nothing inside it. */
export const TRAVERSE_INHERITANCE: AccessMask = INHERIT_NONE;

const norm = (p: string) => path.win32.normalize(p).replace(/\\+$/, '');

/**
 * The folders needing the traverse ACE, profile root first, each once (case-insensitively). A target that is the
 * profile root itself, outside it, or not a local absolute path contributes nothing. A folder that is itself a
 * target is left out: its own (inheritable) grant already lets the group through, and one SID's explicit ACEs on a
 * folder are then all of one kind, so reverting one never takes the other with it.
 */
export function profileTraverseFolders(targets: string[], home: string): string[] {
  const w = path.win32;
  const root = norm(home);
  if (!w.isAbsolute(root) || root.startsWith('\\\\')) return [];
  const rootKey = root.toLowerCase();
  const out = new Map<string, string>();
  for (const t of targets) {
    if (!w.isAbsolute(t) || t.startsWith('\\\\')) continue;
    const target = norm(t);
    // Component-wise: C:\Users\devil is not inside C:\Users\dev.
    if (!target.toLowerCase().startsWith(`${rootKey}\\`)) continue;
    const between: string[] = [];
    for (let d = w.dirname(target); d.toLowerCase() !== rootKey; d = w.dirname(d)) between.unshift(d);
    for (const d of [root, ...between]) if (!out.has(d.toLowerCase())) out.set(d.toLowerCase(), d);
  }
  for (const t of targets) out.delete(norm(t).toLowerCase());
  return [...out.values()];
}
