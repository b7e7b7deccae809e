/**
 * Per-workspace capability SIDs, persisted in the backend's state dir so each workspace root keeps one SID for
 * life (a new SID per run would litter ACLs with "Account Unknown" entries). Must never reuse a SID across roots.
 */
import * as path from 'node:path';
import { randomCapabilitySid } from '../../../native-bindings/win32/sid';
import { readJson, writeJsonAtomic } from '../../state-file';

export const CAPABILITY_FILE = 'win32-capability-sids.json';

/** Returns the SID for each root (lower-cased key), minting and saving any missing ones. */
export function capabilitySidsFor(stateDir: string, roots: string[], mint: () => string = randomCapabilitySid): Record<string, string> {
  const file = path.join(stateDir, CAPABILITY_FILE);
  const known = readJson<Record<string, string>>(file, {});
  let changed = false;
  for (const root of roots) {
    const k = root.toLowerCase();
    if (!known[k]) {
      known[k] = mint();
      changed = true;
    }
  }
  if (changed) writeJsonAtomic(file, known);
  return Object.fromEntries(roots.map((r) => [r.toLowerCase(), known[r.toLowerCase()]]));
}

/** The SID already minted for a root, if any (never mints). */
export function knownCapabilitySid(stateDir: string, root: string): string | undefined {
  return readJson<Record<string, string>>(path.join(stateDir, CAPABILITY_FILE), {})[root.toLowerCase()];
}

/** Forgets a root's SID, once every ACE naming it has been reverted ("remove this workspace"). */
export function forgetCapabilitySid(stateDir: string, root: string): void {
  const file = path.join(stateDir, CAPABILITY_FILE);
  const known = readJson<Record<string, string>>(file, {});
  if (!(root.toLowerCase() in known)) return;
  delete known[root.toLowerCase()];
  writeJsonAtomic(file, known);
}
