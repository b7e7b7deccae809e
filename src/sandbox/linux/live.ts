/**
 * The register of running sandboxes under `<stateDir>/live/`, shared by every process that starts one (CLI runs,
 * each VS Code window's brokers). A sandbox registers before its placeholders are made and its temp is used, and
 * releases when it ends; whoever releases the last sandbox of a workspace takes back that workspace's placeholders,
 * and the last of a plan its private temp. Uninstall and Remove skip anything a live sandbox still relies on (a
 * removed placeholder would detach its read-only mount and make the path writable inside). One lock file
 * serialises all of it. An entry whose process is gone (a crash; its bwrap died with it) counts as ended.
 * Must never remove what a live sandbox uses.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isWithin } from '../../policy/paths';
import type { LinuxPlan } from '../../policy/plan';
import { createPlaceholder, removePlaceholders, type Kept } from './placeholders';

export const LIVE_DIR = 'live';
const LOCK = '.lock';
const LOCK_WAIT_MS = 10_000;

interface Entry {
  id: string;
  pid: number;
  /** The owner's start time (/proc/PID/stat field 22), so a reused pid is not mistaken for the owner. */
  start: string;
  roots: string[];
  tempDir: string;
}

export interface Registration {
  readonly stateDir: string;
  readonly entry: Entry;
}

/**
 * Registers a sandbox for `plan` and prepares the host for it (private temp, placeholders), atomically with
 * respect to every other register and release.
 */
export function register(stateDir: string, plan: LinuxPlan): Registration {
  return withLock(stateDir, () => {
    const entry: Entry = {
      id: randomUUID(),
      pid: process.pid,
      start: startTime(process.pid) ?? '',
      roots: [...new Set([...plan.writableRoots, ...plan.workspaceRoots])],
      tempDir: plan.tempDir,
    };
    fs.writeFileSync(path.join(liveDir(stateDir), `${entry.id}.json`), JSON.stringify(entry));
    fs.mkdirSync(plan.tempDir, { recursive: true, mode: 0o700 });
    for (const ph of plan.placeholders) createPlaceholder(stateDir, ph.path, ph.kind, ph.content);
    return { stateDir, entry };
  });
}

/**
 * Ends a registration (idempotent): then removes the private temp when no live sandbox shares it, and the
 * placeholders of every workspace no live sandbox covers. Never throws: what it could not remove is left for the
 * next release or uninstall (a sandbox's end must not fail because of its cleanup).
 */
export function release(reg: Registration): { removed: string[]; kept: Kept[] } {
  // Uninstall (or the user) removed the register: nothing of ours is left there, and nothing may be made again.
  if (!fs.existsSync(path.join(reg.stateDir, LIVE_DIR))) return { removed: [], kept: [] };
  try {
    return withLock(reg.stateDir, () => {
      fs.rmSync(path.join(liveDir(reg.stateDir), `${reg.entry.id}.json`), { force: true });
      return sweep(reg.stateDir);
    });
  } catch (e) {
    return { removed: [], kept: [{ path: reg.stateDir, reason: `cleanup failed: ${(e as Error).message}` }] };
  }
}

/** Under the lock: what no live sandbox uses any more goes (temps of ended plans, placeholders of idle workspaces). */
function sweep(stateDir: string): { removed: string[]; kept: Kept[] } {
  const live = liveEntries(stateDir);
  const removed: string[] = [];
  const tmpRoot = path.join(stateDir, 'tmp');
  for (const name of safeReaddir(tmpRoot)) {
    const t = path.join(tmpRoot, name);
    if (live.some((e) => e.tempDir === t)) continue;
    fs.rmSync(t, { recursive: true, force: true });
    removed.push(t);
  }
  const r = removePlaceholders(stateDir, (p) => !inUse(live, p));
  return { removed: [...removed, ...r.removed], kept: [...r.kept, ...r.failed] };
}

/**
 * For uninstall and Remove: runs `fn` under the lock with a test for "a live sandbox relies on this path", so
 * nothing a running sandbox uses is removed.
 */
export function withLiveCheck<T>(stateDir: string, fn: (inUse: (p: string) => boolean, running: number) => T): T {
  return withLock(stateDir, () => {
    const live = liveEntries(stateDir);
    return fn((p) => inUse(live, p), live.length);
  });
}

/** The processes that hold a live registration in `stateDir` now (read without the lock; creates nothing). */
export function livePids(stateDir: string): number[] {
  const dir = path.join(stateDir, LIVE_DIR);
  const pids = new Set<number>();
  for (const name of safeReaddir(dir).filter((n) => n.endsWith('.json'))) {
    try {
      const e = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Entry;
      if (e.start !== '' && startTime(e.pid) === e.start) pids.add(e.pid);
    } catch {
      // gone meanwhile, or unreadable
    }
  }
  return [...pids];
}

function inUse(live: Entry[], p: string): boolean {
  return live.some(
    (e) =>
      e.tempDir === p ||
      isWithin('linux', p, e.tempDir) ||
      e.roots.some((r) => isWithin('linux', r, p) || isWithin('linux', p, r)),
  );
}

/** Live entries; those whose owner is gone are deleted. Call under the lock. */
function liveEntries(stateDir: string): Entry[] {
  const dir = liveDir(stateDir);
  const out: Entry[] = [];
  for (const name of safeReaddir(dir)) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(dir, name);
    let e: Entry;
    try {
      e = JSON.parse(fs.readFileSync(file, 'utf8')) as Entry;
    } catch {
      continue; // unreadable: neither trusted as live nor removed
    }
    if (startTime(e.pid) === e.start && e.start !== '') out.push(e);
    else fs.rmSync(file, { force: true });
  }
  return out;
}

function liveDir(stateDir: string): string {
  const dir = path.join(stateDir, LIVE_DIR);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Runs `fn` holding `<stateDir>/live/.lock` (an O_EXCL file naming its owner; a dead owner's lock is taken over). */
function withLock<T>(stateDir: string, fn: () => T): T {
  const lock = path.join(liveDir(stateDir), LOCK);
  const me = `${process.pid} ${startTime(process.pid) ?? ''}`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.writeFileSync(lock, me, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = readOwner(lock);
    if (owner && startTime(owner.pid) !== owner.start) {
      fs.rmSync(lock, { force: true }); // its owner died holding it
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${lock} is held by process ${owner?.pid ?? '?'}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function readOwner(lock: string): { pid: number; start: string } | undefined {
  try {
    const [pid, start = ''] = fs.readFileSync(lock, 'utf8').split(' ');
    return Number(pid) > 0 ? { pid: Number(pid), start } : undefined;
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), or undefined when the process is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
