/**
 * The ACL ledger: applies a plan's ACL operations once (skipping ACEs already present), records every ACE it adds
 * with the DACL it replaced, and reverts them exactly (REVOKE of our SID's explicit ACEs on each touched path).
 * Every ACE is recorded (as incomplete) before anything is created or written for it. Missing protected paths are
 * then created (a folder, or an empty placeholder file with its missing parents); what was created is recorded,
 * and revert deletes it again while it is still empty.
 * Works over a `SecurityStore`, so unit tests use an in-memory store and the backend uses the Win32 one.
 * Must never change an owner, never touch the profile root or NTUSER.DAT (except for a traverse-only,
 * non-inheriting ACE written in place, see ./setup/profile-traverse), and never add an ACE it does not record.
 */
import type { VolumeInfo } from '../../../native-bindings/win32/volume';
import * as path from 'node:path';
import { readJson, writeJsonAtomic } from '../../state-file';
import { TRAVERSE_MASK } from './setup/profile-traverse';

/** One explicit ACE (same shape as native-bindings' AceEntry, kept here so this module stays pure). */
export interface Ace {
  sid: string;
  mode: 'grant' | 'set' | 'deny' | 'revoke';
  mask: number;
  inheritance: number;
}

/** Where DACLs live: the real file system (Win32) or a map in tests. */
export interface SecurityStore {
  kind(p: string): 'dir' | 'file' | 'missing';
  /** Creates the path (a file holding `content`) and any missing parent folders; returns them, outermost first. */
  create(p: string, kind: 'dir' | 'file', content?: string): string[];
  /**
   * Deletes an empty folder, or a file holding exactly `content` (default: empty) — that is, still as we made it;
   * false (and nothing deleted) otherwise.
   */
  removeIfEmpty(p: string, content?: string): boolean;
  /** Explicit (and inherited) ACEs on the path. */
  entries(p: string): Ace[];
  /** Merges `aces` into the path's DACL (SetEntriesInAclW semantics); returns the DACL's SDDL before. */
  apply(p: string, aces: Ace[]): string;
  /** `apply` off the event loop, where the store can (the Win32 one: the write runs on koffi's worker thread). */
  applyAsync?(p: string, aces: Ace[]): Promise<string>;
  /**
   * As `apply`, but writes the DACL of this one path without propagating anything to what is inside it (Win32:
   * SetFileSecurityW). For non-inheriting ACEs on folders whose subtree must not be rewritten (the profile root).
   */
  applyInPlace?(p: string, aces: Ace[]): string;
  /** The volume `p` (or, when missing, its nearest existing folder) is on; throws when it cannot be read. */
  volume(p: string): VolumeInfo;
}

/** One ACE on one path, as the ledger and the operations name it. */
interface AceOnPath {
  path: string;
  sid: string;
  action: 'grant' | 'deny';
  mask: number;
  inheritance: number;
  reason: string;
  /** Written with `applyInPlace` (and reverted so): only for non-inheriting ACEs. */
  inPlace?: true;
}

/** An ACL operation with its SID resolved. */
export interface ResolvedAclOp extends AceOnPath {
  createIfMissing?: 'dir' | 'file';
  placeholderContent?: string;
}

export interface LedgerRecord extends AceOnPath {
  /** The DACL (SDDL) before we touched it, for audit and manual recovery. */
  before: string;
  /** We created the path (a missing protected folder or placeholder file). */
  created: boolean;
  /** Everything created for it, outermost first; revert deletes these while they are still empty. */
  createdPaths?: string[];
  /** What a placeholder file at `path` holds when we made it (empty when absent), for whichever record reverts it. */
  placeholderContent?: string;
  at: string;
  /** The ACE was found already present but not recorded (a crash between write and save): adopted so it can be reverted. */
  adopted?: true;
  /**
   * The write reached the folder itself but failed while propagating to what is inside (a child the developer
   * cannot change): recorded so uninstall reverts it, and written again on the next run instead of being skipped
   * as present (review §3.15).
   */
  incomplete?: true;
}

function sameAce(r: AceOnPath, op: ResolvedAclOp): boolean {
  return (
    r.path.toLowerCase() === op.path.toLowerCase() &&
    r.sid.toUpperCase() === op.sid.toUpperCase() &&
    r.action === op.action &&
    r.mask >>> 0 === op.mask >>> 0 &&
    r.inheritance === op.inheritance
  );
}

/** The ledger's record of a half-finished write of `op`, if there is one. */
function incompleteRecord(ledger: Ledger, op: ResolvedAclOp): LedgerRecord | undefined {
  return ledger.records.find((r) => r.incomplete && sameAce(r, op));
}

/**
 * Records the ACEs of `skipped` operations that are present on disk but missing from the ledger. Every operation's
 * SID is one of ours (a minted capability SID, the sandbox group), so an unrecorded one is ours too and must be
 * revertible. Returns how many were adopted.
 */
export function adoptUnrecorded(skipped: ResolvedAclOp[], store: SecurityStore, ledger: Ledger): number {
  let n = 0;
  for (const op of skipped) {
    const known = ledger.records.some(
      (r) =>
        r.path.toLowerCase() === op.path.toLowerCase() &&
        r.sid.toUpperCase() === op.sid.toUpperCase() &&
        r.action === op.action,
    );
    if (known || store.kind(op.path) === 'missing' || !alreadyPresent(store.entries(op.path), op)) continue;
    ledger.records.push({
      path: op.path,
      sid: op.sid,
      action: op.action,
      mask: op.mask,
      inheritance: op.inheritance,
      reason: op.reason,
      before: '',
      created: false,
      at: new Date().toISOString(),
      adopted: true,
    });
    n++;
  }
  return n;
}

export interface Ledger {
  version: 1;
  records: LedgerRecord[];
}

export interface ApplyProgress {
  done: number;
  total: number;
  path: string;
  action: 'grant' | 'deny' | 'skip';
}

export interface ApplyFailure {
  op: ResolvedAclOp;
  error: unknown;
}

export interface ApplyResult {
  applied: LedgerRecord[];
  skipped: ResolvedAclOp[];
  failures: ApplyFailure[];
}

const INHERITED_ACE = 0x10;

/** Records the elevated setup wrote (its group's grants, reason `elevated-…`); only the elevated uninstall reverts them. */
export function isElevatedRecord(r: LedgerRecord): boolean {
  return r.reason.startsWith('elevated-');
}

/** True when an explicit ACE already gives what `op` asks (same SID, kind and inheritance; mask a superset). */
export function alreadyPresent(entries: Ace[], op: ResolvedAclOp): boolean {
  return entries.some(
    (e) =>
      e.sid.toUpperCase() === op.sid.toUpperCase() &&
      e.mode === op.action &&
      (e.inheritance & ~INHERITED_ACE) === op.inheritance &&
      (e.inheritance & INHERITED_ACE) === 0 &&
      (e.mask & op.mask) >>> 0 === op.mask >>> 0,
  );
}

/**
 * True when `op`'s ACE is on the path and its write finished: an ACE the ledger holds as incomplete (recorded
 * before a write that crashed or failed while propagating) is not done, even where the path itself carries it.
 */
export function grantComplete(entries: Ace[], ledger: Ledger, op: ResolvedAclOp): boolean {
  return alreadyPresent(entries, op) && !incompleteRecord(ledger, op);
}

/** Paths the sandbox must never modify: the profile root itself and registry hives in it. */
export function refuseUntouchable(p: string, home: string): string | undefined {
  const w = path.win32;
  if (w.normalize(p).toLowerCase().replace(/\\+$/, '') === w.normalize(home).toLowerCase().replace(/\\+$/, '')) {
    return `${p} is your user profile folder; changing its permissions can break your profile.`;
  }
  if (/^ntuser\.dat/i.test(w.basename(p))) return `${p} is a registry hive.`;
  return undefined;
}

/**
 * The part of applying one operation before the DACL write: refuses untouchable paths and skips what is already
 * present. Returns the missing path (and its missing parents, outermost first) to create for a protected path, or
 * `skip`. Nothing is created here: the record comes first (see `recordBeforeWrite`).
 */
function beforeWrite(
  op: ResolvedAclOp,
  store: SecurityStore,
  home: string,
  ledger: Ledger,
): { toCreate?: string[] } | 'skip' {
  if (op.inPlace && op.inheritance !== 0) throw new Error(`${op.path}: an inheritable ACE cannot be written in place.`);
  const refused = refuseUntouchable(op.path, home);
  // The one exception: the traverse-only ACE Node needs to lstat the profile root, which reaches nothing inside.
  if (refused && !(op.inPlace && isTraverseOnly(op) && !/^ntuser\.dat/i.test(path.win32.basename(op.path))))
    throw new Error(refused);
  if (store.kind(op.path) === 'missing')
    return op.createIfMissing ? { toCreate: missingChain(op.path, store) } : 'skip';
  // Present on the folder but half-propagated last time: written again, so the children get it too.
  if (alreadyPresent(store.entries(op.path), op) && !incompleteRecord(ledger, op)) return 'skip';
  return {};
}

/** `p` and its missing parents (up to the drive), outermost first: what `create` will make. */
function missingChain(p: string, store: SecurityStore): string[] {
  const out = [p];
  for (
    let d = path.win32.dirname(p);
    d !== path.win32.dirname(d) && store.kind(d) === 'missing';
    d = path.win32.dirname(d)
  )
    out.unshift(d);
  return out;
}

function aceOf(op: ResolvedAclOp): Ace {
  return { sid: op.sid, mode: op.action, mask: op.mask, inheritance: op.inheritance };
}

/** Writes `aces` on the path of `op` (an operation or a record): in place when it says so, else through `apply`. */
function writeAces(store: SecurityStore, op: { path: string; inPlace?: true }, aces: Ace[]): string {
  if (!op.inPlace) return store.apply(op.path, aces);
  if (!store.applyInPlace) throw new Error(`${op.path}: this store cannot write a DACL without propagating it.`);
  return store.applyInPlace(op.path, aces);
}

/** An allow ACE of traverse, read-attributes and synchronize only (a subset of them), with no inheritance. */
export function isTraverseOnly(ace: { action: string; mask: number; inheritance: number }): boolean {
  const m = ace.mask >>> 0;
  return ace.action === 'grant' && ace.inheritance === 0 && m !== 0 && (m & ~TRAVERSE_MASK.value) >>> 0 === 0;
}

/** An operation between its record and its write: the record (made now, or left by an earlier attempt). */
interface Pending {
  record: LedgerRecord;
  /** The record was made by this attempt (a write that does not land takes it back). */
  fresh: boolean;
  /** What this attempt created for it. */
  createdPaths?: string[];
}

/**
 * Everything before the DACL write: the checks, then the record (saved through `persist`), then whatever must be
 * created for a missing protected path. Returns what the write needs, or undefined when the operation was skipped
 * or failed (already noted in `result`).
 */
function startOne(
  op: ResolvedAclOp,
  i: number,
  total: number,
  store: SecurityStore,
  home: string,
  ledger: Ledger,
  result: ApplyResult,
  onProgress?: (p: ApplyProgress) => void,
  persist?: () => void,
): Pending | undefined {
  try {
    const pre = beforeWrite(op, store, home, ledger);
    if (pre === 'skip') {
      result.skipped.push(op);
      onProgress?.({ done: i + 1, total, path: op.path, action: 'skip' });
      return undefined;
    }
    const prior = incompleteRecord(ledger, op)?.createdPaths ?? [];
    const pending = recordBeforeWrite(op, pre.toCreate, ledger, persist);
    if (pre.toCreate) {
      // A creation that fails keeps the record, which names every path it could have made: revert deletes
      // those that exist while they are still empty, and the next run creates them again. Once made, the record
      // names what really was (another process may have made a part meanwhile).
      pending.createdPaths = store.create(op.path, op.createIfMissing!, op.placeholderContent);
      pending.record.createdPaths = [...new Set([...prior, ...pending.createdPaths])];
    }
    return pending;
  } catch (error) {
    result.failures.push({ op, error });
  }
  return undefined;
}

/** Completes the record of an ACE just written (with the DACL it replaced, if not known yet) and reports it. */
function finishOne(
  op: ResolvedAclOp,
  i: number,
  total: number,
  before: string,
  pending: Pending,
  result: ApplyResult,
  onProgress?: (p: ApplyProgress) => void,
): void {
  // A retry that finished an earlier half-propagated write keeps the DACL from before the first attempt, if known.
  const rec = pending.record;
  delete rec.incomplete;
  if (!rec.before) rec.before = before;
  rec.at = new Date().toISOString();
  result.applied.push(rec);
  onProgress?.({ done: i + 1, total, path: op.path, action: op.action });
}

/**
 * A DACL write failed. If the path itself carries the ACE now, the failure came while propagating to its
 * children: the record stays incomplete (uninstall reverts it; the next run writes it again) with what was created
 * for it. Otherwise the record this attempt made goes again, and what it created (a placeholder, a sealed `.git`)
 * is deleted while it is still as we made it; otherwise nothing would ever take it back. A record an earlier
 * attempt left stays for the next run or uninstall.
 */
function failWrite(
  op: ResolvedAclOp,
  pending: Pending,
  store: SecurityStore,
  ledger: Ledger,
  result: ApplyResult,
  error: unknown,
): void {
  result.failures.push({ op, error });
  if (halfWritten(op, store) || !pending.fresh) return;
  ledger.records.splice(ledger.records.indexOf(pending.record), 1);
  for (const p of [...(pending.createdPaths ?? [])].reverse()) {
    try {
      store.removeIfEmpty(p, p === op.path ? op.placeholderContent : undefined);
    } catch {
      // left in place; the failure is what the caller reports
    }
  }
}

function halfWritten(op: ResolvedAclOp, store: SecurityStore): boolean {
  try {
    return store.kind(op.path) !== 'missing' && alreadyPresent(store.entries(op.path), op);
  } catch {
    return false;
  }
}

/** The ledger record of `op`, written over the DACL `before` (SDDL), with what was created for it. */
function recordOf(op: ResolvedAclOp, before: string, createdPaths: string[] | undefined): LedgerRecord {
  return {
    path: op.path,
    sid: op.sid,
    action: op.action,
    mask: op.mask,
    inheritance: op.inheritance,
    reason: op.reason,
    before,
    created: createdPaths !== undefined,
    ...(createdPaths ? { createdPaths } : {}),
    ...(op.placeholderContent !== undefined ? { placeholderContent: op.placeholderContent } : {}),
    ...(op.inPlace ? { inPlace: true as const } : {}),
    at: new Date().toISOString(),
  };
}

/** `before` is not known yet (the write that returns it has not run, or failed). Revert removes our ACE by SID alone. */
function incompleteOf(op: ResolvedAclOp, createdPaths: string[] | undefined): LedgerRecord {
  return { ...recordOf(op, '', createdPaths), incomplete: true };
}

/**
 * Every ACE is recorded, as incomplete, and saved through `persist` before anything is created or written for it
 * (a propagating write can take minutes and fail half-way). A crash at any point leaves a record: the next run
 * writes it again (an incomplete ACE is never skipped as present) and uninstall reverts it, deleting what was made
 * for it while still empty. An incomplete record an earlier attempt left is reused, naming what this one may create.
 */
function recordBeforeWrite(
  op: ResolvedAclOp,
  toCreate: string[] | undefined,
  ledger: Ledger,
  persist?: () => void,
): Pending {
  const earlier = incompleteRecord(ledger, op);
  if (earlier && toCreate) {
    earlier.created = true;
    earlier.createdPaths = [...new Set([...(earlier.createdPaths ?? []), ...toCreate])];
  }
  const record = earlier ?? incompleteOf(op, toCreate);
  if (!earlier) ledger.records.push(record);
  persist?.();
  return { record, fresh: !earlier };
}

/** Applies one operation unless present, recording it first; a failure is collected, never left half-recorded. */
function applyOne(
  op: ResolvedAclOp,
  i: number,
  total: number,
  store: SecurityStore,
  ledger: Ledger,
  home: string,
  result: ApplyResult,
  onProgress?: (p: ApplyProgress) => void,
  persist?: () => void,
): void {
  const pending = startOne(op, i, total, store, home, ledger, result, onProgress, persist);
  if (!pending) return;
  try {
    finishOne(op, i, total, writeAces(store, op, [aceOf(op)]), pending, result, onProgress);
  } catch (error) {
    failWrite(op, pending, store, ledger, result, error);
  }
}

/** `applyOne` with the DACL write awaited off the event loop when the store can do that. */
async function applyOneAsync(
  op: ResolvedAclOp,
  i: number,
  total: number,
  store: SecurityStore,
  ledger: Ledger,
  home: string,
  result: ApplyResult,
  onProgress?: (p: ApplyProgress) => void,
  persist?: () => void,
): Promise<void> {
  // An in-place write propagates nothing, so it is quick: no need to leave the event loop.
  if (!store.applyAsync || op.inPlace) return applyOne(op, i, total, store, ledger, home, result, onProgress, persist);
  const pending = startOne(op, i, total, store, home, ledger, result, onProgress, persist);
  if (!pending) return;
  try {
    finishOne(op, i, total, await store.applyAsync(op.path, [aceOf(op)]), pending, result, onProgress);
  } catch (error) {
    failWrite(op, pending, store, ledger, result, error);
  }
}

/**
 * Applies each operation unless present, recording what it adds. Failures are collected, never half-recorded.
 * `persist` saves the ledger; it is called once each operation is recorded, before anything is created or written.
 */
export function applyOperations(
  ops: ResolvedAclOp[],
  store: SecurityStore,
  ledger: Ledger,
  home: string,
  onProgress?: (p: ApplyProgress) => void,
  persist?: () => void,
): ApplyResult {
  const result: ApplyResult = { applied: [], skipped: [], failures: [] };
  ops.forEach((op, i) => applyOne(op, i, ops.length, store, ledger, home, result, onProgress, persist));
  adoptUnrecorded(result.skipped, store, ledger);
  return result;
}

/**
 * As `applyOperations`, but yields to the event loop between operations (so progress can be shown), writes DACLs
 * off the event loop where the store can (a long inheritance propagation then freezes nothing), and stops
 * before the next operation once `signal` is aborted, returning `cancelled: true` with what was applied so far
 * recorded; a rerun skips those ACEs and completes the rest. `onRecorded` runs when each ACE is recorded, before
 * it is written, and again once it is complete (the caller saves the ledger, so a crash loses no ACE).
 */
export async function applyOperationsYielding(
  ops: ResolvedAclOp[],
  store: SecurityStore,
  ledger: Ledger,
  home: string,
  opts: { onProgress?: (p: ApplyProgress) => void; signal?: AbortSignal; onRecorded?: () => void } = {},
): Promise<ApplyResult & { cancelled: boolean }> {
  const result: ApplyResult = { applied: [], skipped: [], failures: [] };
  for (const [i, op] of ops.entries()) {
    await new Promise<void>((r) => setImmediate(r));
    if (opts.signal?.aborted) return { ...result, cancelled: true };
    const before = result.applied.length;
    await applyOneAsync(op, i, ops.length, store, ledger, home, result, opts.onProgress, opts.onRecorded);
    if (result.applied.length > before) opts.onRecorded?.();
  }
  if (adoptUnrecorded(result.skipped, store, ledger)) opts.onRecorded?.();
  return { ...result, cancelled: false };
}

export interface RevertResult {
  reverted: LedgerRecord[];
  failures: { record: LedgerRecord; error: unknown }[];
  /** Paths we had created and deleted again (they were still empty). */
  removed: string[];
  /** Paths we had created that now hold data, so they stay (they are the user's now). */
  keptCreated: string[];
}

/**
 * Revokes every recorded ACE, newest first, removing each record once done. Records whose path is gone are
 * dropped. `filter` limits the revert (e.g. one workspace's SID). Failed records stay for the next attempt. Then
 * the paths the reverted records created are deleted while empty, unless a record still kept needs them.
 */
export function revertLedger(
  ledger: Ledger,
  store: SecurityStore,
  filter: (r: LedgerRecord) => boolean = () => true,
): RevertResult {
  const out: RevertResult = { reverted: [], failures: [], removed: [], keptCreated: [] };
  const keep: LedgerRecord[] = [];
  for (const record of [...ledger.records].reverse()) {
    if (!filter(record)) {
      keep.unshift(record);
      continue;
    }
    try {
      if (store.kind(record.path) !== 'missing') {
        const ours = store
          .entries(record.path)
          .some((e) => e.sid.toUpperCase() === record.sid.toUpperCase() && (e.inheritance & INHERITED_ACE) === 0);
        if (ours) writeAces(store, record, [{ sid: record.sid, mode: 'revoke', mask: 0, inheritance: 0 }]);
      }
      out.reverted.unshift(record);
    } catch (error) {
      out.failures.push({ record, error });
      keep.unshift(record);
    }
  }
  ledger.records = keep;
  removeCreated(out, keep, store);
  return out;
}

/**
 * Deletes what reverted records created, deepest first, while empty. A path that a kept record still names (or
 * holds) stays, and that record inherits it, so the revert that removes the last record deletes it.
 */
function removeCreated(out: RevertResult, keep: LedgerRecord[], store: SecurityStore): void {
  const key = (p: string) => path.win32.normalize(p).toLowerCase();
  const created = [...new Set(out.reverted.flatMap((r) => r.createdPaths ?? []))].sort((a, b) => b.length - a.length);
  for (const p of created) {
    const k = key(p);
    const heir = keep.find((r) => key(r.path) === k || key(r.path).startsWith(`${k}\\`));
    if (heir) {
      heir.createdPaths = [...new Set([p, ...(heir.createdPaths ?? [])])];
      continue;
    }
    if (store.kind(p) === 'missing') continue;
    try {
      const content = out.reverted.find(
        (r) => key(r.path) === k && r.placeholderContent !== undefined,
      )?.placeholderContent;
      if (store.removeIfEmpty(p, content)) out.removed.push(p);
      else out.keptCreated.push(p);
    } catch {
      out.keptCreated.push(p);
    }
  }
}

export function emptyLedger(): Ledger {
  return { version: 1, records: [] };
}

/** Reads the ledger file (missing → empty). */
export function loadLedger(file: string): Ledger {
  const data = readJson<Ledger>(file, emptyLedger());
  // Never replace an unreadable ledger with an empty one: its records are the only way to undo our ACEs.
  if (data.version !== 1 || !Array.isArray(data.records)) throw new Error(`${file} is not a version 1 ACL ledger.`);
  return data;
}

/** Writes the ledger atomically, so a crash never loses records. */
export function saveLedger(file: string, ledger: Ledger): void {
  writeJsonAtomic(file, ledger);
}
