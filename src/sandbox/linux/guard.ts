/**
 * Keeps a running sandbox's mounts honest for its whole life. Protected paths, pinned folders and hidden paths are
 * mounts of one inode each; when the host replaces that inode (git renames `config.lock` over `.git/config`,
 * `git clean` removes a placeholder, a daemon re-creates its socket) the kernel detaches the mount inside the
 * sandbox and the path becomes writable (or reachable) there. The guard records each path's identity before the
 * sandbox starts, watches every parent folder with inotify (fs.watch), and calls `onBreach` as soon as one path is
 * no longer the inode that was bound; `changed()` answers the same synchronously (brokers ask before each spawn).
 * Guarded paths (`plan.guardedPaths`) must stay exactly as they were; hidden paths (credentials, sockets, the state
 * folder) may disappear (nothing is then reachable there) but not come back as another inode (a restarted
 * daemon's new socket would be reachable). Must never report intact a path whose identity it could not read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LinuxPlan } from '../../policy/plan';

/** How often paths in folders inotify could not watch are checked (a longer reaction window than inotify's). */
const POLL_MS = 250;

export class MountGuard {
  /** Called (once) with a description of the first path found replaced. */
  onBreach: ((reason: string) => void) | undefined;
  private readonly ids = new Map<string, { id: string; missingOk: boolean }>();
  private readonly watchers: fs.FSWatcher[] = [];
  private breached: string | undefined;
  private closed = false;
  private poll: NodeJS.Timeout | undefined;

  constructor(plan: Pick<LinuxPlan, 'guardedPaths' | 'hiddenSockets' | 'denyRead' | 'privateState'>) {
    const hidden = [...plan.denyRead, ...plan.hiddenSockets, ...(plan.privateState ? [plan.privateState] : [])];
    const paths = [...plan.guardedPaths, ...hidden];
    // Watch first, then record: a replacement between the two is still seen as an event.
    let unwatched = false;
    for (const dir of new Set(paths.map((p) => path.dirname(p)))) {
      try {
        const w = fs.watch(dir, { persistent: false }, () => this.check());
        w.on('error', () => this.check());
        this.watchers.push(w);
      } catch {
        // An unwatchable folder (missing, or the inotify watch limit reached): polled instead, below.
        unwatched = true;
      }
    }
    if (unwatched) {
      this.poll = setInterval(() => this.check(), POLL_MS);
      this.poll.unref();
    }
    for (const p of hidden) this.ids.set(p, { id: identity(p), missingOk: true });
    for (const p of plan.guardedPaths) this.ids.set(p, { id: identity(p), missingOk: false });
  }

  /** The first guarded path that is no longer the inode recorded at start, described; undefined when all hold. */
  changed(): string | undefined {
    if (this.breached) return this.breached;
    for (const [p, { id, missingOk }] of this.ids) {
      const now = identity(p);
      if (now !== id && !(missingOk && now === 'missing'))
        return (this.breached = `${p} was ${now === 'missing' ? 'removed' : 'replaced'} on the host, which detaches its mount inside the sandbox`);
    }
    return undefined;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
  }

  /** On every event in a watched folder, at once (a few stats): the sooner a detached mount is acted on the better. */
  private check(): void {
    if (this.closed) return;
    const reason = this.changed();
    if (!reason) return;
    this.close();
    this.onBreach?.(reason);
  }
}

/**
 * Device, inode and birth time: a re-created file often gets the freed inode number back at once, so the inode
 * alone would not tell a restarted daemon's socket from the old one (birth time is 0 where the filesystem has none).
 */
function identity(p: string): string {
  try {
    const st = fs.statSync(p, { bigint: true });
    return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
  } catch {
    return 'missing';
  }
}
