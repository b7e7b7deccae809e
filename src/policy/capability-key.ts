/**
 * Which capability SID an ACE and a token carry: one per policy and workspace root. A policy is identified by its
 * set of writable folders, the only part whose narrowing revokes grants; protected paths only ever add denies, so
 * policies that differ only there share a SID and a change to them writes just the difference. Pure (compile and
 * the backends both use it). The key never contains `|` in a path, so `root|policy` is unambiguous on Windows.
 */
import { createHash } from 'node:crypto';

/** A short stable name for a set of writable folders (order and case do not matter). */
export function capabilityPolicyKey(writableRoots: string[]): string {
  const set = [...new Set(writableRoots.map((r) => r.toLowerCase()))].sort();
  return createHash('sha256').update(set.join('\n')).digest('hex').slice(0, 16);
}

/** The capability file's key for `root` under `policyKey`. */
export function capabilityKey(root: string, policyKey: string): string {
  return `${root.toLowerCase()}|${policyKey}`;
}
