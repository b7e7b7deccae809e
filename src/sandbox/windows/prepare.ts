/**
 * One-time preparation of a win32 plan, off the command path: resolves the plan's SIDs, applies its ACL
 * operations through the ledger (each root once, with progress), and runs the world-writable audit within a time
 * budget. Grant failures are reported per root (that root stays read-only); a failed deny fails closed.
 * Must never let a command start when a protected path or audit deny could not be applied.
 */
import { withFileLock, withFileLockSync } from '../../file-lock';
import * as path from 'node:path';
import type { PlanSid, Win32Plan } from '../../policy/plan';
import { DENY_WRITE_MASK, INHERIT_ALL, INHERIT_NONE } from '../../policy/compile-win32';
import { SandboxError, SandboxErrorCode } from '../../errors';
import { isWithin } from '../../policy/paths';
import { isWin32Error } from '../../../native-bindings/win32/errors';
import {
  applyOperationsYielding,
  isElevatedRecord,
  loadLedger,
  revertLedger,
  saveLedger,
  type ApplyFailure,
  type Ledger,
  type LedgerRecord,
  type ResolvedAclOp,
  type RevertResult,
  type SecurityStore,
} from './ledger';
import { defaultAuditCandidates, grantsWrite, selectAuditTargets } from './audit';
import { checkVolumes } from './volumes';

export const LEDGER_FILE = 'win32-acl-ledger.json';
export const AUDIT_BUDGET_MS = 2000;

export interface Identity {
  userSid: string;
  logonSid: string;
  /** Capability SID per lower-cased workspace root. */
  capabilities: Record<string, string>;
}

export interface PrepareProgress {
  message: string;
  done: number;
  total: number;
}

export interface PrepareResult {
  warnings: string[];
}

/** Resolves a plan SID in unelevated mode; the elevated kinds need the elevated backend. */
export function resolveSid(sid: PlanSid, id: Identity): string {
  switch (sid.kind) {
    case 'literal':
      return sid.sid;
    case 'capability': {
      const s = sid.sid ?? id.capabilities[sid.root.toLowerCase()];
      if (!s)
        throw new SandboxError(SandboxErrorCode.Internal, `No capability SID for ${sid.root}.`, 'Report this bug.');
      return s;
    }
    case 'logon':
      return id.logonSid;
    case 'current-user':
      return id.userSid;
    case 'sandbox-group':
    case 'sandbox-user':
      throw new SandboxError(
        SandboxErrorCode.SetupRequired,
        'This plan needs the sandbox users from the one-time setup.',
        'Run "Agent Sandbox: Set Up Windows Sandbox", or use the unelevated mode.',
      );
  }
}

export function resolveAclOps(plan: Win32Plan, id: Identity): ResolvedAclOp[] {
  return plan.acl.map((op) => ({
    path: op.path,
    sid: resolveSid(op.sid, id),
    action: op.action,
    mask: op.mask.value,
    inheritance: op.inheritance.value,
    reason: op.reason,
    ...(op.createIfMissing ? { createIfMissing: op.createIfMissing } : {}),
    ...(op.placeholderContent !== undefined ? { placeholderContent: op.placeholderContent } : {}),
  }));
}

/** Audit deny operations for the capability SIDs, for folders Everyone or the logon SID can write. */
export function auditOps(
  plan: Win32Plan,
  id: Identity,
  store: SecurityStore,
  env: Record<string, string | undefined>,
  budgetMs = AUDIT_BUDGET_MS,
): { ops: ResolvedAclOp[]; unscanned: string[] } {
  const candidates = [...plan.auditPaths, ...defaultAuditCandidates(env)];
  const probe = (dir: string) => store.kind(dir) === 'dir' && grantsWrite(store.entries(dir), ['S-1-1-0', id.logonSid]);
  // A folder whose permissions cannot be read is not known to be safe: it is listed as not checked.
  const unreadable: string[] = [];
  const safeProbe = (dir: string) => {
    try {
      return probe(dir);
    } catch {
      unreadable.push(dir);
      return false;
    }
  };
  const selected = selectAuditTargets(candidates, [...plan.writableRoots, plan.tempDir], safeProbe, budgetMs);
  const targets = selected.targets;
  const unscanned = [...selected.unscanned, ...unreadable];
  const caps = [...new Set(Object.values(id.capabilities))];
  const ops = targets.flatMap((t) =>
    caps.map((sid): ResolvedAclOp => ({
      path: t.path,
      sid,
      action: 'deny',
      mask: DENY_WRITE_MASK.value,
      inheritance: t.scope === 'tree' ? INHERIT_ALL.value : INHERIT_NONE.value,
      reason: 'world-writable-audit',
    })),
  );
  return { ops, unscanned };
}

function denyFix(op: ResolvedAclOp, denied: boolean): string {
  if (op.reason === 'world-writable-audit') {
    return (
      `${op.path} is writable by Everyone, so the sandbox could write there, and you cannot add a deny entry to ` +
      `it. As an administrator, remove Everyone's write access (icacls "${op.path}" /remove:g *S-1-1-0), or run ` +
      '"Agent Sandbox: Set Up Windows Sandbox".'
    );
  }
  return denied
    ? `You cannot change permissions on ${op.path}; it is probably owned by another account. Take ` +
        'ownership of it, or remove its workspace from the sandbox.'
    : 'Check that the path exists and is on an NTFS volume.';
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The error a cancelled preparation throws: nothing ran, and what was applied is recorded for the next run. */
export function preparationCancelled(): SandboxError {
  return new SandboxError(
    SandboxErrorCode.Cancelled,
    'Preparing the sandbox was cancelled, so nothing was run.',
    'Run the command again: the preparation resumes where it stopped (permissions already set are skipped).',
  );
}

/** The signal a preparation honours: the backend's (e.g. a progress notification's cancel) and the spawn's. */
export function preparationSignalFor(
  opts: { preparationSignal?: () => AbortSignal | undefined },
  spawnSignal?: AbortSignal,
): AbortSignal | undefined {
  const signals = [opts.preparationSignal?.(), spawnSignal].filter((s): s is AbortSignal => s !== undefined);
  return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
}

/**
 * Applies the plan's ACLs and audit denies, yielding between operations. When `signal` is aborted it stops before
 * the next operation, saves the ledger with what was applied, and throws `preparationCancelled()`.
 */
export async function prepare(
  plan: Win32Plan,
  id: Identity,
  store: SecurityStore,
  opts: {
    stateDir: string;
    home: string;
    env: Record<string, string | undefined>;
    onProgress?: (p: PrepareProgress) => void;
    tolerateUnstoredAcls?: boolean;
    signal?: AbortSignal;
  },
): Promise<PrepareResult> {
  const file = path.join(opts.stateDir, LEDGER_FILE);
  return withLedger(file, () => prepareNow(plan, id, store, file, opts));
}

const ledgerQueue = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` alone on the ledger `file`: one preparation or re-apply per ledger at a time (two interleaved
 * load/save cycles would lose each other's records), across processes too (the CLI, another window, the elevated
 * setup) through the ledger file's lock.
 */
function withLedger<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const previous = ledgerQueue.get(file) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => withFileLock(file, fn));
  const tail = run.catch(() => undefined);
  ledgerQueue.set(file, tail);
  void tail.then(() => ledgerQueue.get(file) === tail && ledgerQueue.delete(file));
  return run;
}

/**
 * Writes protected paths' denies again while a command runs (./guard saw the host replace them): the same ledger
 * and order as the preparation, each ACE recorded before it is written. Returns the writes that failed.
 */
export function reapplyProtections(
  ops: ResolvedAclOp[],
  store: SecurityStore,
  opts: { stateDir: string; home: string },
): Promise<ApplyFailure[]> {
  const file = path.join(opts.stateDir, LEDGER_FILE);
  return withLedger(file, async () => {
    const ledger = loadLedger(file);
    const result = await applyOperationsYielding(ops, store, ledger, opts.home, {
      onRecorded: () => saveLedger(file, ledger),
    });
    saveLedger(file, ledger);
    return result.failures;
  });
}

async function prepareNow(
  plan: Win32Plan,
  id: Identity,
  store: SecurityStore,
  file: string,
  opts: {
    home: string;
    env: Record<string, string | undefined>;
    onProgress?: (p: PrepareProgress) => void;
    tolerateUnstoredAcls?: boolean;
    signal?: AbortSignal;
  },
): Promise<PrepareResult> {
  if (opts.signal?.aborted) throw preparationCancelled();
  // Review §3.14: on a network share or a FAT/exFAT volume no ACL below decides anything.
  const warnings: string[] = checkVolumes(
    [...plan.writableRoots, plan.tempDir],
    (p) => store.volume(p),
    plan.acceptUnenforcedVolumes === true,
  );
  const audit = auditOps(plan, id, store, opts.env);
  if (audit.unscanned.length) {
    warnings.push(
      `The world-writable audit could not check these (out of time, or their permissions could not be read): ${audit.unscanned.join(', ')}.`,
    );
  }
  const ops = [...resolveAclOps(plan, id), ...audit.ops];
  const ledger = loadLedger(file);
  const stale = revertStale(ledger, ops, store, Object.values(id.capabilities));
  if (stale.reverted.length || stale.failures.length) saveLedger(file, ledger);
  if (stale.reverted.length) {
    opts.onProgress?.({
      message: `Removed ${stale.reverted.length} permission(s) the policy no longer asks for`,
      done: 0,
      total: ops.length,
    });
  }
  for (const f of stale.failures) {
    const what = `an earlier ${f.record.action === 'grant' ? 'write grant' : 'protection'} on ${f.record.path}, which the policy no longer asks for`;
    // A grant that stays would keep a folder writable that the policy took away: that fails closed.
    if (f.record.action === 'grant') {
      throw new SandboxError(
        isWin32Error(f.error, 5) ? SandboxErrorCode.AclAccessDenied : SandboxErrorCode.AclGrantFailed,
        `Could not remove ${what}: ${describe(f.error)}. Nothing was run.`,
        `Run "Agent Sandbox: Remove Windows Sandbox" (or \`agent-sandbox uninstall\`) to retry, or remove the permission by hand: icacls "${f.record.path}" /remove *${f.record.sid}`,
        { cause: f.error },
      );
    }
    warnings.push(
      `Could not remove ${what}: ${describe(f.error)}. It stays read-only inside the sandbox until "Agent Sandbox: Remove Windows Sandbox" removes it.`,
    );
  }
  // Only those inside a root this plan still writes to matter to the user; the rest sit in folders the sandbox can
  // no longer write at all (uninstall or "remove this workspace" tidies them).
  const roots = ops.filter((o) => o.reason === 'writable-root' && o.action === 'grant').map((o) => o.path);
  const paths = [...new Set(stale.staleDenies.map((r) => r.path))].filter((p) =>
    roots.some((r) => isWithin('win32', r, p)),
  );
  if (paths.length) {
    warnings.push(
      `${paths.join(', ')} ${paths.length === 1 ? 'is' : 'are'} no longer protected by this policy, but stay${paths.length === 1 ? 's' : ''} ` +
        'read-only inside the sandbox in case another policy for this folder still protects it. To lift it, run "Agent ' +
        'Sandbox: Remove Sandbox Permissions From This Workspace" (or `agent-sandbox uninstall --workspace DIR`); the next ' +
        'command then sets only what its policy asks for.',
    );
  }
  const result = await applyOperationsYielding(ops, store, ledger, opts.home, {
    signal: opts.signal,
    onRecorded: () => saveLedger(file, ledger),
    onProgress: (p) =>
      opts.onProgress?.({
        message: `${p.action === 'skip' ? 'Already set' : p.action === 'grant' ? 'Granting' : 'Protecting'} ${p.path}`,
        done: p.done,
        total: p.total,
      }),
  });
  saveLedger(file, ledger);
  if (result.cancelled) throw preparationCancelled();
  for (const f of result.failures) {
    const denied = isWin32Error(f.error, 5);
    if (f.op.action === 'grant') {
      warnings.push(
        `Could not grant the sandbox write access to ${f.op.path}: ${describe(f.error)}. It stays read-only ` +
          `inside the sandbox.${
            denied
              ? ' The folder is probably owned by another account: take ownership of it ' +
                '(Properties > Security > Advanced) or remove it from the writable roots.'
              : ''
          }`,
      );
      continue;
    }
    throw new SandboxError(
      denied ? SandboxErrorCode.AclAccessDenied : SandboxErrorCode.AclGrantFailed,
      `Could not protect ${f.op.path} (${f.op.reason}): ${describe(f.error)}. Nothing was run.`,
      denyFix(f.op, denied),
      { cause: f.error },
    );
  }
  verifyApplied(
    result.applied.map((r) => r),
    store,
    warnings,
    opts.tolerateUnstoredAcls === true,
  );
  return { warnings };
}

/**
 * Narrowing a policy must take effect. Capability SIDs are per policy (its writable folders, ./capabilities), so
 * a narrowed policy already runs with another SID; what remains is a grant of this plan's own SIDs that the plan
 * no longer contains (a record from before SIDs were per policy). Those are reverted before the plan's own ACEs
 * are applied. Another policy's SIDs are never touched, so two policies on one folder keep their grants.
 *
 * A protection (deny) the plan no longer contains is kept, since lifting it could open a path that the other
 * policy protects while its command runs. `staleDenies` lists them, and "remove this workspace" lifts them.
 * One exception: a sealed folder the sandbox made (`.git` in a folder that was not a repository) whose contents
 * the plan now protects one by one (after `git init`). Every policy seals or splits it alike, depending only
 * on whether the folder exists, so lifting the seal is safe.
 * Audit denies, temp grants and the elevated setup's records are never touched.
 */
export function revertStale(
  ledger: Ledger,
  ops: ResolvedAclOp[],
  store: SecurityStore,
  capabilitySids: string[],
): RevertResult & { staleDenies: LedgerRecord[] } {
  const norm = (p: string) => path.win32.normalize(p).toLowerCase();
  const key = (a: { path: string; sid: string; action: string; mask: number; inheritance: number }) =>
    [norm(a.path), a.sid.toUpperCase(), a.action, a.mask >>> 0, a.inheritance].join('|');
  const wanted = new Set(ops.map(key));
  // Only the workspaces' own capability SIDs: the elevated sandbox group is shared by every workspace, so its
  // grants for another workspace are not stale. Revoking the capability grant is enough in both modes, since a
  // write needs the restricting (capability) SID's access as well.
  const caps = new Set(capabilitySids.map((c) => c.toUpperCase()));
  const mine = (r: { sid: string }) => caps.has(r.sid.toUpperCase());
  const sids = new Set(
    ops
      .filter((o) => mine(o) && (o.reason === 'writable-root' || o.reason === 'protected-path'))
      .map((o) => o.sid.toUpperCase()),
  );
  const ours = (r: LedgerRecord) => !isElevatedRecord(r) && sids.has(r.sid.toUpperCase()) && !wanted.has(key(r));
  const staleGrant = (r: LedgerRecord) => ours(r) && r.reason === 'writable-root' && r.action === 'grant';
  const staleDeny = (r: LedgerRecord) => ours(r) && r.reason === 'protected-path' && r.action === 'deny';
  const splitSeal = (r: LedgerRecord) =>
    staleDeny(r) &&
    r.inheritance === INHERIT_ALL.value &&
    (r.createdPaths ?? []).some((c) => norm(c) === norm(r.path)) &&
    ops.some(
      (o) =>
        o.reason === 'protected-path' &&
        o.sid.toUpperCase() === r.sid.toUpperCase() &&
        norm(o.path).startsWith(`${norm(r.path)}\\`),
    );
  const isStale = (r: LedgerRecord) => staleGrant(r) || splitSeal(r);
  const staleDenies = ledger.records.filter((r) => staleDeny(r) && !splitSeal(r));
  if (!ledger.records.some(isStale)) return { reverted: [], failures: [], removed: [], keptCreated: [], staleDenies };
  return { ...revertLedger(ledger, store, isStale), staleDenies };
}

/** Reads back every ACE just written. On Wine (tolerateUnstoredAcls) a lost ACE is a warning, elsewhere fatal. */
function verifyApplied(records: ResolvedAclOp[], store: SecurityStore, warnings: string[], tolerate: boolean): void {
  const missing = records.filter(
    (r) => !store.entries(r.path).some((e) => e.sid.toUpperCase() === r.sid.toUpperCase() && e.mode === r.action),
  );
  if (!missing.length) return;
  const msg = `The ACEs written on ${missing.map((m) => m.path).join(', ')} did not read back.`;
  if (tolerate) {
    warnings.push(`${msg} (Wine does not store file ACLs: file-system restrictions are NOT in effect.)`);
    return;
  }
  throw new SandboxError(
    SandboxErrorCode.AclGrantFailed,
    `${msg} Nothing was run.`,
    'Check that the folders are on an NTFS volume and not managed by a sync client that resets permissions.',
  );
}

/**
 * Reverts the unelevated backend's ledgered ACEs (all of them for uninstall, or only those of the given capability
 * SIDs for "remove this workspace"), leaving the elevated setup's records to the elevated uninstall.
 */
export function revertUnelevatedAcls(stateDir: string, store: SecurityStore, capabilitySids?: string[]): RevertResult {
  const only = capabilitySids && new Set(capabilitySids.map((s) => s.toUpperCase()));
  return revertAcls(stateDir, store, (r) => !isElevatedRecord(r) && (!only || only.has(r.sid.toUpperCase())));
}

/**
 * Reverts ledgered ACEs (uninstall, or "remove this workspace" with a filter) and saves the ledger with whatever
 * could not be reverted yet.
 */
export function revertAcls(
  stateDir: string,
  store: SecurityStore,
  filter?: (r: LedgerRecord) => boolean,
): RevertResult {
  return revertSelectedAcls(stateDir, store, filter && (() => filter));
}

/** As `revertAcls`, with the filter chosen from the whole ledger (read under the lock). */
export function revertSelectedAcls(
  stateDir: string,
  store: SecurityStore,
  select?: (ledger: Ledger) => (r: LedgerRecord) => boolean,
): RevertResult {
  const file = path.join(stateDir, LEDGER_FILE);
  return withFileLockSync(file, () => {
    const ledger = loadLedger(file);
    const result = revertLedger(ledger, store, select?.(ledger));
    saveLedger(file, ledger);
    return result;
  });
}
