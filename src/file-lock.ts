/**
 * A cross-process lock for read-modify-write state files (the Windows ACL ledger, the capability-SID map), which
 * the extension host, the CLI and the elevated setup may all update: `<file>.lock` created exclusively (O_EXCL),
 * holding the owner's pid and host. A lock whose owner is gone (its pid is not running) or whose file has not been
 * touched for `staleMs` (the async holder touches it while it works) is taken over. Must never let two holders in
 * at once while both are alive, and never wait forever: a timeout says who holds the lock.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface LockOptions {
  /** Give up after this long (default 2 min). */
  timeoutMs?: number;
  /** A lock file untouched this long is abandoned (default 60 s). */
  staleMs?: number;
  pollMs?: number;
}

const HEARTBEAT_MS = 5_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another account (the elevated setup).
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One attempt: true when we now hold the lock. Removes an abandoned lock first. */
export function tryLock(lock: string, staleMs = 60_000): boolean {
  try {
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), at: Date.now() }), { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  try {
    const owner = JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid?: number; host?: string };
    const age = Date.now() - fs.statSync(lock).mtimeMs;
    const gone = owner.host === os.hostname() && typeof owner.pid === 'number' && !alive(owner.pid);
    if (gone || age > staleMs) fs.rmSync(lock, { force: true });
  } catch {
    // Being written or removed right now by its owner: try again on the next poll.
  }
  return false;
}

function holder(lock: string): string {
  try {
    return fs.readFileSync(lock, 'utf8');
  } catch {
    return 'unknown';
  }
}

function timeoutError(lock: string, ms: number): Error {
  return new Error(
    `Timed out after ${ms} ms waiting for ${lock} (held by ${holder(lock)}). If no Agent Sandbox process is running, delete that file.`,
  );
}

/** Runs `fn` holding `<file>.lock`, waiting (without blocking the event loop) for another holder to finish. */
export async function withFileLock<T>(file: string, fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  while (!tryLock(lock, opts.staleMs)) {
    if (Date.now() > deadline) throw timeoutError(lock, opts.timeoutMs ?? 120_000);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 50));
  }
  const beat = setInterval(() => {
    const now = new Date();
    try {
      fs.utimesSync(lock, now, now);
    } catch {
      // Removed under us (taken over as stale): nothing to refresh.
    }
  }, HEARTBEAT_MS);
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    fs.rmSync(lock, { force: true });
  }
}

/** `withFileLock` for short synchronous updates (sleeps between attempts without spinning). */
export function withFileLockSync<T>(file: string, fn: () => T, opts: LockOptions = {}): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  while (!tryLock(lock, opts.staleMs)) {
    if (Date.now() > deadline) throw timeoutError(lock, opts.timeoutMs ?? 120_000);
    Atomics.wait(sleeper, 0, 0, opts.pollMs ?? 20);
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}
