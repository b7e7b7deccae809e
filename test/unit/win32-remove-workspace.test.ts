// Unit: "remove this workspace" (and `agent-sandbox uninstall --workspace DIR`) with the elevated setup's records
// in the ledger, over the in-memory store, with two workspaces in the profile. The group's grants on the removed
// workspace and the traverse-only ACEs on the profile folders above it go; traverse ACEs another workspace (or the
// temp folder, or a runtime folder) still needs stay: reference-counted by record. Whether Windows then refuses
// the sandbox accounts needs a real machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyOperations, loadLedger, saveLedger, type ResolvedAclOp } from '../../src/sandbox/windows/ledger';
import { LEDGER_FILE } from '../../src/sandbox/windows/prepare';
import { removeWorkspace } from '../../src/sandbox/windows/uninstall';
import { CAPABILITY_FILE } from '../../src/sandbox/windows/capabilities';
import { buildSetupPlan } from '../../src/sandbox/windows/setup/setup-plan';
import { elevatedPlan, HOME } from './win32-elevated-plan-fixture';
import { MemoryStore } from './win32-memory-store';

const GROUP = 'S-1-5-21-9-9-9-1000';
const CAP_A = 'S-1-5-21-1-2-3-4';
const A = `${HOME}\\src\\a`;
const B = `${HOME}\\src\\b`;
const C = `${HOME}\\work\\c`;
const GIT = `${HOME}\\AppData\\Local\\Programs\\Git`;

/** The ledger setup leaves for these workspaces (as machine-win32's addGrant writes it), plus A's own capability grant. */
function setUp(roots: string[]) {
  const plan = buildSetupPlan({ plan: elevatedPlan(roots, { runtimeDirs: [GIT] }), home: HOME });
  const store = new MemoryStore([HOME, `${HOME}\\src`, `${HOME}\\work`, `${HOME}\\AppData`, ...roots, GIT]);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-rmws-el-'));
  const ledger = loadLedger(path.join(stateDir, LEDGER_FILE));
  const ops: ResolvedAclOp[] = plan.grants.map((g) => ({
    path: g.path,
    sid: GROUP,
    action: 'grant',
    mask: g.mask.value,
    inheritance: g.inheritance.value,
    reason: `elevated-${g.reason}`,
    ...(g.reason === 'profile-traverse' ? { inPlace: true as const } : {}),
    ...(g.createIfMissing ? { createIfMissing: g.createIfMissing } : {}),
  }));
  ops.push({ path: A, sid: CAP_A, action: 'grant', mask: 0x1301bf, inheritance: 3, reason: 'writable-root' });
  const r = applyOperations(ops, store, ledger, HOME, undefined, () => undefined);
  assert.deepEqual(r.failures, []);
  saveLedger(path.join(stateDir, LEDGER_FILE), ledger);
  fs.writeFileSync(path.join(stateDir, CAPABILITY_FILE), JSON.stringify({ [A.toLowerCase()]: CAP_A }));
  return { store, stateDir, plan };
}

const groupOn = (store: MemoryStore, p: string) => store.entries(p).some((e) => e.sid === GROUP);

test('remove this workspace: the group grant on it and the traverse ACEs only it needs go; those another workspace needs stay', () => {
  const { store, stateDir } = setUp([A, B, C]);
  assert.ok(
    [HOME, `${HOME}\\src`, `${HOME}\\work`].every((p) => groupOn(store, p)),
    'setup wrote the traverse ACEs',
  );
  // C is alone under work: removing it takes work's traverse ACE; the profile root's stays (A, B and the temp).
  const c = removeWorkspace(stateDir, C, store);
  assert.deepEqual(c.failures, []);
  assert.equal(groupOn(store, C), false, "the group's write grant on C is gone");
  assert.equal(groupOn(store, `${HOME}\\work`), false, 'the traverse ACE only C needed is gone');
  assert.equal(groupOn(store, `${HOME}\\src`), true, 'A and B still need src');
  assert.equal(groupOn(store, HOME), true, 'the profile root is still needed');
  assert.equal(groupOn(store, A), true);
  assert.equal(groupOn(store, B), true);
  // A is removed: its own grants go (group and capability SID); src stays for B.
  const a = removeWorkspace(stateDir, A, store);
  assert.deepEqual(a.sids, [CAP_A]);
  assert.equal(store.entries(A).length, 0, 'every ACE of ours on A is gone');
  assert.equal(groupOn(store, `${HOME}\\src`), true, 'B still needs src');
  assert.equal(groupOn(store, B), true);
  // B is removed too: src goes, the profile root stays (the temp folder's traverse chain still needs it).
  removeWorkspace(stateDir, B, store);
  assert.equal(groupOn(store, `${HOME}\\src`), false);
  assert.equal(groupOn(store, HOME), true, "the temp folder's chain below the profile root still needs it");
  const left = loadLedger(path.join(stateDir, LEDGER_FILE)).records;
  assert.ok(
    left.every((r) => r.reason === 'elevated-runtime-read' || r.reason === 'elevated-profile-traverse'),
    JSON.stringify(left.map((r) => [r.path, r.reason])),
  );
  assert.ok(!left.some((r) => [A, B, C, `${HOME}\\src`, `${HOME}\\work`].includes(r.path)));
});

test('remove this workspace (control): a workspace setup never granted changes nothing of the group', () => {
  const { store, stateDir } = setUp([A, B]);
  const before = JSON.stringify([...store.dacls]);
  const r = removeWorkspace(stateDir, C, store);
  assert.deepEqual(r.reverted, []);
  assert.equal(JSON.stringify([...store.dacls]), before);
});
