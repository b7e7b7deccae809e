// Unit (review §3.15): a DACL write that reached the folder but failed while propagating to its children (a child
// the developer cannot change) over the in-memory store. The ACE is recorded as incomplete, so uninstall reverts
// it; the next run writes it again instead of skipping it as present; a protection that half-applied still fails
// closed. The control shows what the old "present on the folder = done" check did: the retry never happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LEDGER_FILE, prepare, revertAcls, type Identity } from '../../src/sandbox/windows/prepare';
import { alreadyPresent, loadLedger, type ResolvedAclOp } from '../../src/sandbox/windows/ledger';
import { SandboxError } from '../../src/errors';
import { Win32Error } from '../../native-bindings/win32/errors';
import type { Ace } from '../../src/sandbox/windows/ledger';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';
import { MemoryStore } from './win32-memory-store';

const CAP = 'S-1-5-21-1-2-3-4';
const id: Identity = { userSid: 'S-1-5-21-9-9-9-1000', logonSid: 'S-1-5-5-0-1', capabilities: { 'c:\\ws': CAP } };

/** Writes the folder's own DACL, then fails "propagating" on `paths` while `broken` holds (error 5, as Windows). */
class HalfStore extends MemoryStore {
  broken = true;
  constructor(
    dirs: string[],
    private readonly paths: string[],
  ) {
    super(dirs);
  }
  override apply(p: string, aces: Ace[]) {
    const before = super.apply(p, aces);
    if (this.broken && this.paths.includes(p.toLowerCase())) throw new Win32Error('SetNamedSecurityInfoW', 5);
    return before;
  }
}

function setup(paths: string[]) {
  const plan = compilePlan(
    { workspaceRoots: ['C:\\ws'] },
    {
      platform: 'win32',
      home: 'C:\\Users\\me',
      userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
      env: {},
      stateDir: 'C:\\s',
    },
  ) as Win32Plan;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-half-'));
  const store = new HalfStore(['C:\\ws', 'C:\\ws\\.git', 'C:\\ws\\.git\\hooks', plan.tempDir], paths);
  return { plan, stateDir, store, opts: { stateDir, home: 'C:\\Users\\me', env: {} } };
}

const ledgerOf = (stateDir: string) => loadLedger(path.join(stateDir, LEDGER_FILE));

test('a half-propagated grant is recorded as incomplete (uninstall can revert it) and written again on the next run', async () => {
  const w = setup(['c:\\ws']);
  const first = await prepare(w.plan, id, w.store, w.opts);
  assert.ok(
    first.warnings.some((m) => m.includes('C:\\ws') && /stays read-only/.test(m)),
    first.warnings.join('\n'),
  );
  const rec = ledgerOf(w.stateDir).records.find((r) => r.path === 'C:\\ws' && r.action === 'grant');
  assert.ok(rec?.incomplete, 'recorded, marked incomplete');
  w.store.broken = false;
  w.store.writes = 0;
  await prepare(w.plan, id, w.store, w.opts);
  assert.equal(w.store.writes, 1, 'only the half-finished grant is written again');
  const after = ledgerOf(w.stateDir).records.filter((r) => r.path === 'C:\\ws' && r.action === 'grant');
  assert.equal(after.length, 1, 'one record, not two');
  assert.equal(after[0].incomplete, undefined, 'complete now');
  w.store.writes = 0;
  await prepare(w.plan, id, w.store, w.opts);
  assert.equal(w.store.writes, 0, 'and then skipped as done');
});

test('a half-propagated protection still fails closed, is recorded, and is retried; uninstall reverts it', async () => {
  const w = setup(['c:\\ws\\.git\\hooks']);
  await assert.rejects(prepare(w.plan, id, w.store, w.opts), SandboxError);
  const rec = ledgerOf(w.stateDir).records.find((r) => r.path === 'C:\\ws\\.git\\hooks' && r.action === 'deny');
  assert.ok(rec?.incomplete);
  await assert.rejects(
    prepare(w.plan, id, w.store, w.opts),
    SandboxError,
    'retried (and still failing): never skipped',
  );
  w.store.broken = false;
  await prepare(w.plan, id, w.store, w.opts);
  assert.ok(!ledgerOf(w.stateDir).records.some((r) => r.incomplete));
  const r = revertAcls(w.stateDir, w.store);
  assert.equal(r.failures.length, 0);
  assert.ok(!w.store.entries('C:\\ws\\.git\\hooks').some((e) => e.sid === CAP), 'reverted by uninstall');
});

test('control: judged by the folder alone (the old check), the half-propagated deny looks done and would be skipped', async () => {
  const w = setup(['c:\\ws\\.git\\hooks']);
  await assert.rejects(prepare(w.plan, id, w.store, w.opts), SandboxError);
  const op: ResolvedAclOp = { ...ledgerOf(w.stateDir).records.find((r) => r.incomplete)! };
  assert.ok(alreadyPresent(w.store.entries(op.path), op), 'present on the folder, so only the record tells');
});
