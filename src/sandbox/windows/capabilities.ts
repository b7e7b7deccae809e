/**
 * Per-workspace capability SIDs, persisted in the backend's state dir so each workspace root keeps one SID for
 * life (a new SID per run would litter ACLs with "Account Unknown" entries). Must never reuse a SID across roots.
 */
import * as path from 'node:path';
import { randomCapabilitySid } from '../../../native-bindings/win32/sid';
import { readJson, writeJsonAtomic } from '../../state-file';
import { withFileLockSync } from '../../file-lock';

export const CAPABILITY_FILE = 'win32-capability-sids.json';

/** Returns the SID for each root (lower-cased key), minting and saving any missing ones. */
export function capabilitySidsFor(
  stateDir: string,
  roots: string[],
  mint: () => string = randomCapabilitySid,
): Record<string, string> {
  const file = path.join(stateDir, CAPABILITY_FILE);
  // Locked: the extension host and the CLI may mint for different roots at once; a last writer would drop a SID.
  return withFileLockSync(file, () => mintMissing(file, roots, mint));
}

function mintMissing(file: string, roots: string[], mint: () => string): Record<string, string> {
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

/** Every SID minted so far, by lower-cased root (never mints): a plan fact, so the plan names the SIDs that run. */
export function knownCapabilitySids(stateDir: string): Record<string, string> {
  return readJson<Record<string, string>>(path.join(stateDir, CAPABILITY_FILE), {});
}

/** The SID already minted for a root, if any (never mints). */
export function knownCapabilitySid(stateDir: string, root: string): string | undefined {
  return knownCapabilitySids(stateDir)[root.toLowerCase()];
}

/** Forgets a root's SID, once every ACE naming it has been reverted ("remove this workspace"). */
export function forgetCapabilitySid(stateDir: string, root: string): void {
  const file = path.join(stateDir, CAPABILITY_FILE);
  withFileLockSync(file, () => {
    const known = readJson<Record<string, string>>(file, {});
    if (!(root.toLowerCase() in known)) return;
    delete known[root.toLowerCase()];
    writeJsonAtomic(file, known);
  });
}
