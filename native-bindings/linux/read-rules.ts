/**
 * Landlock read rules that deny by default, rather than by list, what appears later where credentials live (issue 12):
 * a `denyRead` location missing when the sandbox starts (`~/.aws` before `aws configure`) has no dentry a mount could
 * hide, so reads are handled by the ruleset and granted only on what exists at apply time. Every entry of `/` is
 * granted read and execute, except the folders leading to each location's parent (its chain); a chain folder gets
 * READ_DIR alone, and each of its existing children is granted except the next chain folder and the locations
 * themselves. Anything created later directly in a chain folder (a new `~/.aws`, `~/.npmrc`, `~/.config/gcloud`) has
 * no rule and cannot be read for the life of the sandbox. Runs where the sandbox's view is (inside bubblewrap).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const EXECUTE = 1 << 0;
const READ_FILE = 1 << 2;
const READ_DIR = 1 << 3;
/** What a granted entry gets: read, list, execute. */
export const READ_ACCESS = EXECUTE | READ_FILE | READ_DIR;
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
const O_NOFOLLOW = 0o400000;

/** `p` is `outer` or beneath it (absolute, normalized paths). */
const within = (outer: string, p: string) => p === outer || p.startsWith(outer === '/' ? '/' : `${outer}/`);

/** The real path of `p`'s longest existing prefix, with the missing rest appended. */
function realOf(p: string): string {
  try {
    return fs.realpathSync.native(p);
  } catch {
    const parent = path.dirname(p);
    return parent === p ? p : path.join(realOf(parent), path.basename(p));
  }
}

/** Adds one rule: an O_PATH descriptor (open only during the call) and the rights it grants beneath it. */
export type AddRule = (fd: number, access: number) => void;

/**
 * The locations to hide by default (real paths) and their chain folders, `/` included; both empty when there is
 * nothing to hide (reads are then not handled at all). Locations inside a writable path (whose write rule grants
 * reads) or inside another location are left out.
 */
export function readChains(denyRead: string[], writablePaths: string[]): { locations: string[]; chains: string[] } {
  const writable = writablePaths.map(realOf);
  const real = [...new Set(denyRead.map((p) => realOf(path.resolve(p))))];
  const locations = real.filter(
    (p) => p !== '/' && !writable.some((w) => within(w, p)) && !real.some((o) => o !== p && within(o, p)),
  );
  const chains = new Set<string>();
  for (const p of locations)
    for (let d = path.dirname(p); ; d = path.dirname(d)) {
      chains.add(d);
      if (d === '/') break;
    }
  return { locations, chains: [...chains].sort() };
}

/**
 * Adds the read rules through `add` and returns the chain folders that exist (where new entries are unreadable).
 * Entries reached through a symbolic link are granted on their target, unless that target is a chain folder (or
 * above one) or inside a location.
 */
export function addReadRules(locations: string[], chains: string[], add: AddRule): string[] {
  const chainSet = new Set(chains);
  const locationSet = new Set(locations);
  // A target at or above a chain folder, or inside a location, would grant what the chain withholds.
  const forbidden = (t: string) => chains.some((c) => within(t, c)) || locations.some((l) => within(l, t));
  const walked: string[] = [];
  for (const folder of chains) {
    const fd = open(folder, false);
    if (fd === undefined) continue; // missing: its parent (a chain folder too) grants nothing under its name
    try {
      if (!fs.fstatSync(fd).isDirectory() || readlinkFd(fd) !== folder) continue;
      add(fd, READ_DIR);
    } finally {
      fs.closeSync(fd);
    }
    walked.push(folder);
    for (const name of list(folder)) {
      const entry = path.join(folder, name);
      if (chainSet.has(entry) || locationSet.has(entry)) continue;
      const child = open(entry, true);
      if (child === undefined) continue; // a dangling link, or gone since
      try {
        const target = readlinkFd(child);
        if (target === undefined || forbidden(target)) continue;
        add(child, fs.fstatSync(child).isDirectory() ? READ_ACCESS : EXECUTE | READ_FILE);
      } finally {
        fs.closeSync(child);
      }
    }
  }
  return walked;
}

/** A folder's names; none when it cannot be listed (its children then get no rule: denied, never granted). */
function list(folder: string): string[] {
  try {
    return fs.readdirSync(folder);
  } catch {
    return [];
  }
}

function open(p: string, follow: boolean): number | undefined {
  try {
    return fs.openSync(p, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
  } catch {
    return undefined;
  }
}

/** Where an open descriptor really is (the kernel's answer, so a link swapped in after the walk is seen). */
function readlinkFd(fd: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}
