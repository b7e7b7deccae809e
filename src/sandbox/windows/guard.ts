/**
 * Keeps a running Windows sandbox's protections for its whole life. A protected path holds a deny ACE for the
 * sandbox's SID on that file or folder; when the host replaces it by rename (git writes `config.lock`, which
 * inherits the workspace grant, and renames it onto `.git\config`; editors save the same way) the new file carries
 * the inherited grant and not the deny. The guard watches every folder holding a protected path (fs.watch, which is
 * ReadDirectoryChangesW here; a short poll where a watch cannot be made), and on any change re-reads each protected
 * path's identity (volume and file ID) and DACL and has the deny written again at once, through the ledger like the
 * preparation (`reapplyProtections` in ./prepare). A re-apply that fails, or whose deny does not read back, is
 * reported through `onFailure` (the caller stops the command: fail closed).
 * The decision (`decide`) is pure over a `GuardStore`, so unit tests count the ACL writes over the in-memory store.
 * Must never create a missing protected path while a command runs (a host tool's rename onto it would then fail),
 * and never write an ACL when nothing changed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alreadyPresent, type ApplyFailure, type ResolvedAclOp, type SecurityStore } from './ledger';

/** How often folders fs.watch could not watch are checked (a longer reaction window than a watch's). */
export const GUARD_POLL_MS = 250;

/** What the guard reads: kinds and DACLs as the ledger's store, and each path's identity. */
export interface GuardStore extends Pick<SecurityStore, 'kind' | 'entries'> {
  /** The file's identity (volume and file ID); 'missing' when it does not exist. */
  identity(p: string): string;
}

/** What the guard last saw on one protected path. */
export interface Seen {
  id: string;
  /** The deny ACE was on it. */
  denied: boolean;
}

export interface Decision {
  /** The operations whose deny must be written again. */
  reapply: ResolvedAclOp[];
  /** Paths that are another file or folder than the last check saw. */
  replaced: string[];
  /** Paths that are gone (nothing to protect until one is put back; it is then re-protected). */
  removed: string[];
}

/** The operations the guard keeps: the protected paths' denies, never creating a missing one. */
export function guardedOps(ops: ResolvedAclOp[]): ResolvedAclOp[] {
  return ops
    .filter((o) => o.action === 'deny' && o.reason === 'protected-path')
    .map(({ createIfMissing: _c, placeholderContent: _p, ...o }) => o);
}

/** The folders holding the guarded paths: what is watched. */
export function guardFolders(ops: ResolvedAclOp[]): string[] {
  const byKey = new Map<string, string>();
  for (const o of ops) {
    const dir = path.win32.dirname(o.path);
    byKey.set(dir.toLowerCase(), byKey.get(dir.toLowerCase()) ?? dir);
  }
  return [...byKey.values()];
}

const keyOf = (o: ResolvedAclOp) => `${o.path.toLowerCase()}|${o.sid.toUpperCase()}`;

function denied(store: GuardStore, op: ResolvedAclOp): boolean {
  try {
    return alreadyPresent(store.entries(op.path), op);
  } catch {
    return false; // unreadable: not known to hold, so it is written again (and a failing write fails closed)
  }
}

/**
 * Compares each guarded path with what the last check saw (`seen`, updated in place). A deny is written again when
 * the path is another file than before and lacks it, or when it had the deny and lost it. A path never seen counts
 * as having had it (the preparation just wrote it). A deny that does not read back after its write (Wine stores no
 * ACLs) is not written again until the path changes, so nothing loops.
 * The DACL is read only where the path is new or another file, or `named` says an event named it (its own ACL
 * changed): an event for `config.lock` reads no DACL on `config` while git is about to rename onto it.
 */
export function decide(
  ops: ResolvedAclOp[],
  store: GuardStore,
  seen: Map<string, Seen>,
  named: (p: string) => boolean = () => true,
): Decision {
  const out: Decision = { reapply: [], replaced: [], removed: [] };
  for (const op of ops) {
    const prev = seen.get(keyOf(op));
    const id = store.identity(op.path);
    if (id === 'missing') {
      if (prev && prev.id !== 'missing') out.removed.push(op.path);
      seen.set(keyOf(op), { id, denied: false });
      continue;
    }
    const look = !prev || prev.id !== id || named(op.path);
    const now = look ? { id, denied: denied(store, op) } : prev;
    if (prev && prev.id !== id && !out.replaced.includes(op.path)) out.replaced.push(op.path);
    if (!now.denied && (!prev || prev.id !== id || prev.denied)) out.reapply.push(op);
    seen.set(keyOf(op), now);
  }
  return out;
}

/** After a re-apply: the written paths as they are now, and those whose deny did not read back. */
export function afterReapply(ops: ResolvedAclOp[], store: GuardStore, seen: Map<string, Seen>): ResolvedAclOp[] {
  const missing: ResolvedAclOp[] = [];
  for (const op of ops) {
    const now = { id: store.identity(op.path), denied: denied(store, op) };
    seen.set(keyOf(op), now);
    if (now.id !== 'missing' && !now.denied) missing.push(op);
  }
  return missing;
}

/** Writes the denies again through the ledger (see `reapplyProtections` in ./prepare); returns the failures. */
export type Reapply = (ops: ResolvedAclOp[]) => Promise<ApplyFailure[]>;

export interface GuardOptions {
  /** Wine stores no ACLs: a deny that does not read back is then noted, not a failure. */
  tolerateUnstoredAcls?: boolean;
  pollMs?: number;
  /** Test hook: watch nothing, poll only (the fallback where a folder cannot be watched). */
  pollOnly?: boolean;
}

export class AclGuard {
  /** Each re-apply, described (for the command's result). */
  onReapplied: ((note: string) => void) | undefined;
  /** A deny that could not be written again, described; the caller stops the command. */
  onFailure: ((reason: string) => void) | undefined;
  readonly notes: string[] = [];
  /** Set once a deny could not be written again (the command must not go on). */
  failed: string | undefined;
  private readonly seen = new Map<string, Seen>();
  private readonly watchers: fs.FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private closed = false;
  private running: Promise<void> | undefined;
  private again = false;
  /** The paths events named since the last check (lower-cased); 'all' after an event without a name, or a poll. */
  private named: Set<string> | 'all' = 'all';

  constructor(
    private readonly ops: ResolvedAclOp[],
    private readonly store: GuardStore,
    private readonly reapply: Reapply,
    private readonly opts: GuardOptions = {},
  ) {
    // Under Wine no deny reads back: the paths as they are now are the start, so only a later change is acted on.
    if (opts.tolerateUnstoredAcls) decide(ops, store, this.seen);
    // Watch first, then check: a replacement between the two is still seen as an event.
    let unwatched = opts.pollOnly === true;
    if (!opts.pollOnly) {
      for (const dir of guardFolders(ops)) {
        try {
          const w = fs.watch(dir, { persistent: false }, (_e, name) => this.check(name ? path.join(dir, name) : 'all'));
          // A watch that failed later (its folder moved, deleted or no longer readable) sends nothing more: the
          // guard is not left blind, it polls from then on.
          w.on('error', () => {
            w.close();
            this.startPoll();
            void this.check();
          });
          this.watchers.push(w);
        } catch {
          unwatched = true; // a missing folder, or one that cannot be opened for watching: polled below
        }
      }
    }
    if (unwatched) this.startPoll();
    this.check();
  }

  private startPoll(): void {
    if (this.poll || this.closed || !this.ops.length) return;
    this.poll = setInterval(() => this.check(), this.opts.pollMs ?? GUARD_POLL_MS);
    this.poll.unref();
  }

  /** Checks now (and once more after a check already running, so no event is lost); resolves when done. */
  check(named: string | 'all' = 'all'): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (named === 'all' || this.named === 'all') this.named = 'all';
    else this.named.add(named.toLowerCase());
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.once();
      } while (this.again && !this.closed);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
  }

  private async once(): Promise<void> {
    const named = this.named;
    this.named = new Set();
    const d = decide(this.ops, this.store, this.seen, (p) => named === 'all' || named.has(p.toLowerCase()));
    if (!d.reapply.length) return;
    const paths = [...new Set(d.reapply.map((o) => o.path))];
    let failures: ApplyFailure[];
    try {
      failures = await this.reapply(d.reapply);
    } catch (e) {
      failures = d.reapply.map((op) => ({ op, error: e }));
    }
    const unread = afterReapply(d.reapply, this.store, this.seen).filter((o) => !failures.some((f) => f.op === o));
    const failed = [
      ...failures.map((f) => `${f.op.path} (${f.error instanceof Error ? f.error.message : String(f.error)})`),
      ...(this.opts.tolerateUnstoredAcls ? [] : unread.map((o) => `${o.path} (the deny did not read back)`)),
    ];
    if (failed.length) {
      const reason = `the host replaced protected ${failed.length === 1 ? 'path' : 'paths'} and the protection could not be written again: ${failed.join(', ')}`;
      this.notes.push(reason);
      this.failed ??= reason;
      this.onFailure?.(reason);
      return;
    }
    const note =
      `Protection written again on ${paths.join(', ')} after the host ${d.replaced.length ? 'replaced' : 'changed'} ` +
      `${paths.length === 1 ? 'it' : 'them'} while the command ran${this.opts.tolerateUnstoredAcls && unread.length ? ' (Wine stores no ACLs: not in effect)' : ''}.`;
    this.notes.push(note);
    this.onReapplied?.(note);
  }
}

/** Volume serial, file ID and creation time of `p` (Windows: what GetFileInformationByHandle reports); 'missing'. */
export function fileIdentity(p: string): string {
  try {
    const st = fs.statSync(p, { bigint: true });
    return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
  } catch {
    return 'missing';
  }
}
