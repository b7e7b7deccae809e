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
import { hostListeningSockets, lateSockets, listeningEntries, tryReadUnixTable } from './host-sockets';
import { SandboxError, SandboxErrorCode } from '../../errors';

/**
 * How often the host's listening sockets are compared with the start's, and paths in folders inotify could not
 * watch are checked: a socket that starts listening (or a path created in a folder that appeared meanwhile) is
 * reachable for at most about this long before the sandbox is stopped.
 */
const POLL_MS = 250;

/** What the guard watches besides its paths: the host's listening sockets the sandbox could reach by path. */
export interface GuardOptions {
  /**
   * Watch /proc/net/unix for the whole life of the sandbox: a pathname socket that starts listening outside the
   * roots and outside everything `plan` hides is a breach (the plan, made before it listened, cannot hide it).
   */
  sockets?: LinuxPlan;
  /** Folders the launch hides besides the plan's (the proxy's socket folder): sockets there are out of reach. */
  hidden?: string[];
}

export class MountGuard {
  /** Called (once) with a description of the first path found replaced. */
  onBreach: ((reason: string) => void) | undefined;
  /**
   * The reachable listening sockets at start, by path with their inode (only with `sockets`): a broker hides them
   * when it starts; anything else listening later is a breach.
   */
  readonly sockets = new Map<string, number>();
  private readonly ids = new Map<string, { id: string; missingOk: boolean }>();
  /** Each path's folder; watched itself, or through its nearest existing ancestor while it is missing. */
  private readonly folders: string[];
  private readonly watchers = new Map<string, fs.FSWatcher>();
  /** False while some folder is watched only through an ancestor (or not at all). */
  private complete = false;
  private readonly socketPlan: LinuxPlan | undefined;
  private readonly alsoHidden: string[];
  private socketKey = '';
  private breached: string | undefined;
  private closed = false;
  private poll: NodeJS.Timeout | undefined;

  constructor(
    plan: Pick<LinuxPlan, 'guardedPaths' | 'hiddenSockets' | 'denyRead' | 'privateState'>,
    opts: GuardOptions = {},
  ) {
    const hidden = [...plan.denyRead, ...plan.hiddenSockets, ...(plan.privateState ? [plan.privateState] : [])];
    const paths = [...plan.guardedPaths, ...hidden];
    this.folders = [...new Set(paths.map((p) => path.dirname(p)))];
    this.socketPlan = opts.sockets?.confined === false ? undefined : opts.sockets;
    this.alsoHidden = opts.hidden ?? [];
    // Fail closed: without the table the plan hid no listening socket and the watch would see none start.
    const read = this.socketPlan ? tryReadUnixTable() : { text: '' };
    if ('error' in read) {
      throw new SandboxError(
        SandboxErrorCode.Internal,
        `The host's listening Unix sockets cannot be read (${read.error}), so the sandbox could neither hide them ` +
          'nor stop when a new one starts listening; nothing was run.',
        'Make /proc/net/unix readable to this user (a hardened /proc or a container that masks it), or run ' +
          '`agent-sandbox verify` to see what else is missing.',
      );
    }
    // Watch first, then record: a replacement between the two is still seen as an event.
    this.watchFolders();
    if (this.socketPlan) {
      const table = read.text;
      this.socketKey = socketKey(table);
      for (const [s, ino] of lateSockets(this.socketPlan, hostListeningSockets(table), this.alsoHidden))
        this.sockets.set(s, ino);
    }
    if (!this.complete || this.socketPlan) {
      this.poll = setInterval(() => this.onPoll(), POLL_MS);
      this.poll.unref();
    }
    for (const p of hidden) this.ids.set(p, { id: identity(p), missingOk: true });
    for (const p of plan.guardedPaths) this.ids.set(p, { id: identity(p), missingOk: false });
  }

  /**
   * The first guarded path that is no longer the inode recorded at start, described; undefined when all hold.
   * `only`: check just that path, when it is one of them (what an inotify event names).
   */
  changed(only?: string): string | undefined {
    if (this.breached) return this.breached;
    const rec = only === undefined ? undefined : this.ids.get(only);
    if (only !== undefined && !rec) return undefined;
    for (const [p, { id, missingOk }] of rec ? [[only!, rec] as const] : this.ids) {
      const now = identity(p);
      if (now !== id && !(missingOk && now === 'missing')) return (this.breached = describe(p, now));
    }
    return undefined;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /**
   * Watches each folder, or while it is missing its nearest existing ancestor (whose events then tell when it
   * appears: a credential folder made mid-run under a parent that was missing too, as `~/.terraform.d/…`).
   */
  private watchFolders(): void {
    let complete = true;
    for (const folder of this.folders) {
      if (this.watchers.has(folder)) continue;
      complete = false;
      for (let dir = folder; ; dir = path.dirname(dir)) {
        if (this.watchers.has(dir) || this.watch(dir) || dir === path.dirname(dir)) break;
      }
    }
    this.complete = complete;
  }

  private watch(dir: string): boolean {
    try {
      const w = fs.watch(dir, { persistent: false }, (_type, name) =>
        this.onEvent(name ? path.join(dir, name) : undefined),
      );
      w.on('error', () => {
        // The folder itself went away: its watch is dead, so it is watched again (or through an ancestor).
        w.close();
        if (this.watchers.get(dir) === w) this.watchers.delete(dir);
        this.complete = false;
        this.onEvent();
      });
      this.watchers.set(dir, w);
      return true;
    } catch {
      // Missing, or the inotify watch limit reached: an ancestor is watched, and the poll checks meanwhile.
      return false;
    }
  }

  /**
   * On every event in a watched folder, and every poll, at once and synchronously (a few stats, and a read of
   * /proc/net/unix when sockets are watched): the sooner a detached mount is acted on the better, and `onBreach`
   * kills the sandbox before anything else runs.
   */
  private onEvent(named?: string): void {
    if (this.closed) return;
    // The path the event names first, alone (one stat): checking all of them takes most of a millisecond, during
    // which a replaced protected file stays writable from the sandbox.
    if (named) this.check(this.changed(named));
    if (this.closed) return;
    // A folder that was missing may exist now: watched before the check, so nothing made in it after is missed.
    if (!this.complete) this.watchFolders();
    this.check(this.changed() ?? (this.socketPlan ? this.newSocket() : undefined));
  }

  /** Every POLL_MS: the sockets, and the paths too while some folder has no watch of its own (inotify covers them). */
  private onPoll(): void {
    if (!this.complete) this.onEvent();
    else if (this.socketPlan && !this.closed) this.check(this.newSocket());
  }

  /**
   * A pathname socket that started listening since the start (or was re-created) where the sandbox can reach it.
   * Cheap when nothing changed: the listening set is compared first, as text.
   */
  private newSocket(): string | undefined {
    const read = tryReadUnixTable();
    if ('error' in read)
      return (this.breached ??= `the host's listening sockets can no longer be read (${read.error}), so the socket watch is blind`);
    const table = read.text;
    const key = socketKey(table);
    if (key === this.socketKey) return undefined;
    this.socketKey = key;
    for (const [s, ino] of lateSockets(this.socketPlan!, hostListeningSockets(table), this.alsoHidden)) {
      if (this.sockets.get(s) !== ino)
        return (this.breached ??= `the host socket ${s} started listening while the sandbox ran, where the sandbox can reach it`);
    }
    return undefined;
  }

  private check(reason: string | undefined): void {
    if (!reason || this.closed) return;
    this.close();
    this.onBreach?.(reason);
  }
}

function describe(p: string, now: string): string {
  return `${p} was ${now === 'missing' ? 'removed' : 'replaced'} on the host, which detaches its mount inside the sandbox`;
}

/** The listening set as text: path and socket inode of each (a re-created socket changes it too). */
function socketKey(table: string): string {
  return listeningEntries(table)
    .map((e) => `${e.inode} ${e.path}`)
    .join('\n');
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
