/**
 * Repositories a sandboxed command may have planted. A literal-path policy cannot forbid a new nested `.git` (with
 * its own `core.fsmonitor`) or a gitlink in the index that makes the host's `git status` recurse into it, so every
 * run is bracketed by two bounded looks at the roots: `.git` folders and files below each root, and the gitlinks in
 * each root repository's index. What is new after the run is reported as untrusted, with how to remove it.
 * Reads only; must never run git (that is what would execute the planted config) and never walk unboundedly.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Folders not entered: dependency and cache trees git normally ignores (a gitlink into one is still found, from the
 * index). The walk is also capped (depth and entries, about 100 ms on a warm disk) because it brackets every run.
 */
const SKIP = new Set([
  'node_modules',
  'bower_components',
  '.pnpm-store',
  '.venv',
  'venv',
  '__pycache__',
  'target',
  '.gradle',
  '.tox',
  '.mypy_cache',
  '.pytest_cache',
  '.next',
  '.cache',
]);
const MAX_DEPTH = 8;
const MAX_ENTRIES = 20_000;

export interface NestedGit {
  /** `.git` folders and files strictly below a root (the roots' own `.git` excluded). */
  gitdirs: string[];
  /** Paths (absolute) recorded as gitlinks (mode 160000) in a root repository's index. */
  gitlinks: string[];
  /** True when the walk stopped at its entry budget: what lies beyond was not looked at. */
  truncated: boolean;
}

export function findNestedGit(roots: string[]): NestedGit {
  const gitdirs: string[] = [];
  const gitlinks: string[] = [];
  let budget = MAX_ENTRIES;
  const walk = (dir: string, depth: number, root: boolean) => {
    if (budget <= 0 || depth > MAX_DEPTH) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    budget -= entries.length;
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.name === '.git') {
        if (!root) gitdirs.push(p);
      } else if (e.isDirectory() && !SKIP.has(e.name)) {
        walk(p, depth + 1, false);
      }
    }
  };
  for (const r of roots) {
    walk(r, 0, true);
    for (const rel of indexGitlinks(path.join(r, '.git', 'index'))) gitlinks.push(path.join(r, ...rel.split('/')));
  }
  return { gitdirs: gitdirs.sort(), gitlinks: gitlinks.sort(), truncated: budget <= 0 };
}

/** What `after` has that `before` did not. */
export function newNestedGit(before: NestedGit, after: NestedGit): NestedGit {
  return {
    gitdirs: after.gitdirs.filter((p) => !before.gitdirs.includes(p)),
    gitlinks: after.gitlinks.filter((p) => !before.gitlinks.includes(p)),
    truncated: after.truncated,
  };
}

/** A report for the user and the agent, or undefined when nothing new was found. */
export function describeUntrusted(found: NestedGit): string | undefined {
  if (!found.gitdirs.length && !found.gitlinks.length) return undefined;
  const lines = [
    "The sandboxed command created git repositories that the host's git would trust (a nested repository's " +
      'config, such as core.fsmonitor, runs when your git or editor looks into it). Treat them as untrusted:',
  ];
  for (const g of found.gitdirs)
    lines.push(`  - nested repository ${g}: remove it with  rm -rf '${g}'  (or inspect its config first)`);
  for (const l of found.gitlinks) {
    lines.push(`  - gitlink ${l} in the index (git status recurses into it): remove it with  git rm --cached '${l}'`);
  }
  return lines.join('\n');
}

/** Paths recorded with mode 160000 (gitlinks) in a git index file (versions 2–4). Empty when unreadable. */
export function indexGitlinks(file: string): string[] {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return [];
  }
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'DIRC') return [];
  const version = buf.readUInt32BE(4);
  const count = buf.readUInt32BE(8);
  const out: string[] = [];
  let off = 12;
  let prev = '';
  for (let i = 0; i < count && off + 62 <= buf.length; i++) {
    const start = off;
    const mode = buf.readUInt32BE(off + 24);
    const flags = buf.readUInt16BE(off + 60);
    off += 62 + (version >= 3 && flags & 0x4000 ? 2 : 0);
    let name: string;
    if (version === 4) {
      let strip = 0;
      let b: number;
      do {
        b = buf[off++];
        strip = (strip << 7) | (b & 0x7f);
        if (b & 0x80) strip += 1;
      } while (b & 0x80);
      const end = buf.indexOf(0, off);
      if (end < 0) break;
      name = prev.slice(0, prev.length - strip) + buf.toString('utf8', off, end);
      off = end + 1;
    } else {
      const end = buf.indexOf(0, off);
      if (end < 0) break;
      name = buf.toString('utf8', off, end);
      off = start + Math.ceil((end - start + 1) / 8) * 8;
    }
    prev = name;
    if ((mode & 0o170000) === 0o160000) out.push(name);
  }
  return out;
}

/**
 * Looks at the writable roots now and returns a function that looks again and describes what is new (undefined
 * when nothing is). For a run's caller: `const check = watchNestedGit(plan.writableRoots); ...run...; check()`.
 */
export function watchNestedGit(roots: string[]): () => string | undefined {
  const before = findNestedGit(roots);
  return () => describeUntrusted(newNestedGit(before, findNestedGit(roots)));
}
