/**
 * Capability SIDs, one per policy and workspace root, persisted in the backend's state dir so each keeps one SID
 * for life (a new SID per run would litter ACLs with "Account Unknown" entries). A policy here is its set of
 * writable folders (`capabilityPolicyKey`): two policies on one folder (a CLI run with `--write X` beside the
 * extension's settings, a tool call with extra paths beside the terminal) carry different SIDs, so neither's
 * preparation revokes what the other granted while its command runs. Must never reuse a SID across roots or
 * policies.
 */
import * as path from 'node:path';
import { randomCapabilitySid } from '../../../native-bindings/win32/sid';
import { readJson, writeJsonAtomic } from '../../state-file';
import { withFileLockSync } from '../../file-lock';
import { capabilityKey } from '../../policy/capability-key';

export const CAPABILITY_FILE = 'win32-capability-sids.json';

/** Returns the SID for each root (lower-cased key) under `policyKey`, minting and saving any missing ones. */
export function capabilitySidsFor(
  stateDir: string,
  roots: string[],
  policyKey: string,
  mint: () => string = randomCapabilitySid,
): Record<string, string> {
  const file = path.join(stateDir, CAPABILITY_FILE);
  // Locked: the extension host and the CLI may mint for different roots at once; a last writer would drop a SID.
  return withFileLockSync(file, () => mintMissing(file, roots, policyKey, mint));
}

function mintMissing(file: string, roots: string[], policyKey: string, mint: () => string): Record<string, string> {
  const known = readJson<Record<string, string>>(file, {});
  let changed = false;
  for (const root of roots) {
    const k = capabilityKey(root, policyKey);
    if (!known[k]) {
      known[k] = mint();
      changed = true;
    }
  }
  if (changed) writeJsonAtomic(file, known);
  return Object.fromEntries(roots.map((r) => [r.toLowerCase(), known[capabilityKey(r, policyKey)]]));
}

/**
 * Every SID minted so far, by `capabilityKey(root, policyKey)` (never mints): a plan fact, so the plan names the
 * SIDs that run.
 */
export function knownCapabilitySids(stateDir: string): Record<string, string> {
  return readJson<Record<string, string>>(path.join(stateDir, CAPABILITY_FILE), {});
}

/** The SIDs already minted for a root under any policy (never mints); older files keyed by the root alone count. */
export function knownCapabilitySidsOfRoot(stateDir: string, root: string): string[] {
  const known = knownCapabilitySids(stateDir);
  return [
    ...new Set(
      Object.keys(known)
        .filter((k) => ownedBy(k, root))
        .map((k) => known[k]),
    ),
  ];
}

/** Forgets a root's SIDs (every policy's), once every ACE naming them has been reverted ("remove this workspace"). */
export function forgetCapabilitySids(stateDir: string, root: string): void {
  const file = path.join(stateDir, CAPABILITY_FILE);
  withFileLockSync(file, () => {
    const known = readJson<Record<string, string>>(file, {});
    const mine = Object.keys(known).filter((k) => ownedBy(k, root));
    if (!mine.length) return;
    for (const k of mine) delete known[k];
    writeJsonAtomic(file, known);
  });
}

function ownedBy(key: string, root: string): boolean {
  const r = root.toLowerCase();
  return key === r || key.startsWith(`${r}|`);
}
