/**
 * Uninstall / Remove on Windows, as the developer's own process runs it: first reverts every ACE the unelevated
 * backend recorded in the ledger (capability-SID grants, protected-path and audit denies, and the placeholders it
 * created), which needs no administrator because they are on the developer's own folders; then, only when some
 * part of the elevated setup exists or cannot be ruled out, the elevated uninstall with its one UAC prompt.
 * Must never ask for elevation when only the unelevated mode was used, never drop a ledger record it could not
 * revert, and never report success while something it created is left behind.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxError, SandboxErrorCode } from '../../errors';
import { requireWindows } from './setup';
import { deleteCredentials } from './setup/credentials';
import type { SetupMachine } from './setup/machine';
import { buildSetupPlan } from './setup/setup-plan';
import { leftovers } from './setup/uninstall-steps';
import {
  isElevatedRecord,
  loadLedger,
  type Ledger,
  type LedgerRecord,
  type RevertResult,
  type SecurityStore,
} from './ledger';
import { isWithin } from '../../policy/paths';
import { LEDGER_FILE, revertSelectedAcls, revertUnelevatedAcls } from './prepare';
import { forgetCapabilitySids, knownCapabilitySidsOfRoot } from './capabilities';

export interface WindowsUninstallResult {
  /** The elevated uninstall's steps (empty when it was not needed). */
  steps: { id: string; title: string; status: string }[];
  /** What is still there after re-querying. */
  leftovers: string[];
  /** Whether the elevated part ran (and so whether a UAC prompt was shown). */
  elevated: boolean;
  /** Permissions the unelevated backend had added, now reverted. */
  aclReverted: number;
  /** Folders/placeholder files the sandbox created that now hold data, so they were kept. */
  keptCreated: string[];
}

export interface UninstallDeps {
  /** Reverts the unelevated ledger records in the state dir (no elevation). */
  revertUnelevated(): RevertResult;
  /** What of the elevated setup exists, read without elevation; "could not be checked" entries count. */
  elevatedTraces(): Promise<string[]>;
  /** The elevated uninstall (one UAC prompt); throws SandboxError when it leaves something or is declined. */
  uninstallElevated(): Promise<{ steps: WindowsUninstallResult['steps']; leftovers: string[] }>;
  /** Deletes the stored sandbox-account passwords (when no account is left). */
  forgetCredentials(): void;
  /** The ledger's records still there at the end (anything left means something was not taken back). */
  recordsLeft(): LedgerRecord[];
}

function describe(f: RevertResult['failures'][number]): string {
  const e = f.error;
  return `permission for ${f.record.sid} on ${f.record.path} (${f.record.reason}): ${e instanceof Error ? e.message : String(e)}`;
}

export async function uninstallWindows(
  deps: UninstallDeps,
  onProgress?: (m: string) => void,
): Promise<WindowsUninstallResult> {
  const acl = deps.revertUnelevated();
  onProgress?.(
    `Reverted ${acl.reverted.length} folder permission(s) the sandbox had added` +
      `${acl.removed.length ? `, and removed ${acl.removed.length} empty placeholder(s) it had created` : ''}.`,
  );
  for (const k of acl.keptCreated) onProgress?.(`Kept ${k}: the sandbox created it, but it is no longer empty.`);
  const aclLeft = acl.failures.map(describe);
  for (const l of aclLeft) onProgress?.(`Could not revert ${l}`);

  const traces = await deps.elevatedTraces();
  let elevated: Awaited<ReturnType<UninstallDeps['uninstallElevated']>> | undefined;
  if (traces.length) {
    onProgress?.(`The administrator setup left: ${traces.join('; ')}.`);
    try {
      elevated = await deps.uninstallElevated();
    } catch (e) {
      if (!aclLeft.length || !(e instanceof SandboxError)) throw e;
      throw new SandboxError(e.code, `${e.message} Also still present: ${aclLeft.join('; ')}.`, e.fix, { cause: e });
    }
  } else {
    onProgress?.('The administrator setup was never run here (or is already removed): no administrator rights needed.');
    deps.forgetCredentials();
  }
  if (aclLeft.length) {
    throw new SandboxError(
      SandboxErrorCode.SetupFailed,
      `Uninstall could not remove everything. Still present: ${aclLeft.join('; ')}.`,
      'Close programs using these folders and run "agent-sandbox uninstall" again; the permissions stay recorded until reverted.',
    );
  }
  // Whatever reported success, a permission still recorded is still in place (the elevated part found no group to
  // revert for after an earlier failed run, say): never report success then, and never let the ledger go.
  const left = deps.recordsLeft();
  if (left.length) {
    throw new SandboxError(
      SandboxErrorCode.SetupFailed,
      `Uninstall could not remove everything: ${left.length} recorded ` +
        `permission(s) remain, for example ${left[0].reason} on ${left[0].path}.`,
      'Run "agent-sandbox uninstall" again as an administrator; the permissions stay recorded until reverted.',
    );
  }
  return {
    steps: elevated?.steps ?? [],
    leftovers: elevated?.leftovers ?? [],
    elevated: Boolean(elevated),
    aclReverted: acl.reverted.length,
    keptCreated: acl.keptCreated,
  };
}

/**
 * The dependencies over a security store and a machine (the Win32 ones, or in-memory ones in tests). Traces of
 * the elevated setup: whatever the elevated uninstall's own re-query finds (accounts, group, firewall rule, marker,
 * or that one of them could not be checked), plus ledger records of its grants.
 */
export function uninstallDeps(
  stateDir: string,
  store: SecurityStore,
  machine: SetupMachine,
  uninstallElevated: UninstallDeps['uninstallElevated'],
): UninstallDeps {
  return {
    revertUnelevated: () => revertUnelevatedAcls(stateDir, store),
    async elevatedTraces() {
      const rules = buildSetupPlan({ home: os.homedir() }).firewall;
      const grants = loadLedger(path.join(stateDir, LEDGER_FILE)).records.filter(isElevatedRecord);
      return [
        ...(await leftovers(rules, machine)),
        ...(grants.length ? [`${grants.length} folder permission(s) granted by setup`] : []),
      ];
    },
    uninstallElevated,
    forgetCredentials: () => deleteCredentials(stateDir),
    recordsLeft: () => loadLedger(path.join(stateDir, LEDGER_FILE)).records,
  };
}

/**
 * The records "remove this workspace" reverts for `root`: every ACE of its capability SIDs (every policy's), and of
 * the elevated setup's group SID those that serve only this workspace: its grants on `root` and inside it, and the
 * traverse-only ACEs on the folders above `root` that no remaining record of the group needs (reference-counted:
 * a traverse ACE stays while any record of the group that stays sits below its folder, another workspace's grant,
 * a runtime folder, the temp folder or a deeper traverse ACE).
 */
export function workspaceRecords(ledger: Ledger, root: string, capabilitySids: string[]): (r: LedgerRecord) => boolean {
  const caps = new Set(capabilitySids.map((s) => s.toUpperCase()));
  const groups = new Set(ledger.records.filter(isElevatedRecord).map((r) => r.sid.toUpperCase()));
  const isGroup = (r: LedgerRecord) => groups.has(r.sid.toUpperCase());
  const traverse = (r: LedgerRecord) => r.reason === 'elevated-profile-traverse';
  const below = (dir: string, p: string) => isWithin('win32', dir, p) && !isWithin('win32', p, dir);
  const out = new Set<LedgerRecord>(
    ledger.records.filter(
      (r) => caps.has(r.sid.toUpperCase()) || (isGroup(r) && !traverse(r) && isWithin('win32', root, r.path)),
    ),
  );
  // Deepest first, so a deeper traverse ACE that stays keeps the ones above it.
  const candidates = ledger.records
    .filter((r) => isGroup(r) && traverse(r) && below(r.path, root))
    .sort((a, b) => b.path.length - a.path.length);
  for (const t of candidates) {
    if (!ledger.records.some((r) => r !== t && isGroup(r) && !out.has(r) && below(t.path, r.path))) out.add(t);
  }
  return (r) => out.has(r);
}

/**
 * "Remove this workspace": reverts only the ACEs that serve `root` alone (`workspaceRecords`: its capability SIDs'
 * grants, protected-path and audit denies, the elevated group's grants on it and the traverse ACEs only it needs)
 * and the placeholders no other record needs, then forgets its SIDs. Needs no administrator: every one of these
 * sits on the developer's own folders. The SIDs are kept while any of their ACEs could not be reverted, so a rerun
 * finishes.
 */
export function removeWorkspace(
  stateDir: string,
  root: string,
  store: SecurityStore,
): RevertResult & { sids: string[] } {
  const sids = knownCapabilitySidsOfRoot(stateDir, root);
  const result = revertSelectedAcls(stateDir, store, (ledger) => workspaceRecords(ledger, root, sids));
  if (sids.length && !result.failures.length) forgetCapabilitySids(stateDir, root);
  return { ...result, sids };
}

/**
 * Removes the Windows sandbox: reverts the unelevated backend's permissions (no administrator needed), then, only
 * if anything of the elevated setup is there, the elevated part with one UAC prompt.
 */
export async function uninstallWindowsSandbox(opts: {
  stateDir: string;
  onProgress?: (m: string) => void;
}): Promise<WindowsUninstallResult> {
  requireWindows('Removing the Windows sandbox');
  const [{ fileSecurityStore }, { win32Machine }, { runUninstall }] = await Promise.all([
    import('./file-store'),
    import('./setup/machine-win32'),
    import('./setup/setup'),
  ]);
  const machine = win32Machine({ stateDir: opts.stateDir, home: '' });
  return uninstallWindows(
    uninstallDeps(opts.stateDir, fileSecurityStore(opts.stateDir), machine, () => runUninstall(opts)),
    opts.onProgress,
  );
}
