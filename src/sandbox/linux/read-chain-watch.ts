/**
 * What a broker's read rules were built from: the runner grants reads (Landlock) only on the entries that existed in
 * the folders leading to each credential location when it started (native-bindings/linux/read-rules.ts), so an
 * entry the host creates there later, or replaces by rename (`git config --global` rewrites `~/.gitconfig`), is
 * unreadable for the broker's whole life. A broker compares this snapshot before every command and is retired when
 * it changed, so the next command gets a broker whose rules match the folders again. Host side, pure reads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readChains } from '../../../native-bindings/linux/read-rules';
import type { LinuxPlan } from '../../policy/plan';

/** The chain folders of `plan` whose entries the runner's read rules were built from (none when reads are open). */
export function readChainFolders(plan: Pick<LinuxPlan, 'denyRead' | 'landlock' | 'confined'>): string[] {
  if (plan.confined === false || !plan.denyRead.length) return [];
  return readChains(plan.denyRead, plan.landlock.writablePaths).chains;
}

/** Each entry of each folder with its identity, as text: equal texts mean the same entries, none replaced. */
export function readChainSnapshot(folders: string[]): string {
  const out: string[] = [];
  for (const folder of folders) {
    let names: string[];
    try {
      names = fs.readdirSync(folder).sort();
    } catch {
      out.push(`${folder} -`);
      continue;
    }
    for (const name of names) {
      let id = '-';
      try {
        const st = fs.lstatSync(path.join(folder, name), { bigint: true });
        id = `${st.dev}:${st.ino}`;
      } catch {
        // gone since the listing: recorded as missing, so its return is a change too
      }
      out.push(`${path.join(folder, name)} ${id}`);
    }
  }
  return out.join('\n');
}

/** Why a broker's read rules no longer match its chain folders, or undefined. */
export function readChainChange(folders: string[], before: string): string | undefined {
  if (!folders.length || readChainSnapshot(folders) === before) return undefined;
  return `an entry was created or replaced in ${folders.join(', ')} (its read rules predate it)`;
}
