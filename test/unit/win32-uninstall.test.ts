// Unit: Uninstall / Remove on Windows over an in-memory security-descriptor store and an in-memory machine. The
// unelevated backend's ledger (capability-SID grants, protected-path denies, placeholders) is reverted without
// elevation; the elevated part (one UAC prompt) runs only when something of the elevated setup exists or cannot
// be ruled out; what cannot be reverted is reported and stays recorded. Decisions only: no Windows needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LEDGER_FILE, prepare, type Identity } from '../../src/sandbox/windows/prepare';
import { loadLedger, saveLedger, type LedgerRecord } from '../../src/sandbox/windows/ledger';
import { removeWorkspace, uninstallDeps, uninstallWindows } from '../../src/sandbox/windows/uninstall';
import { CAPABILITY_FILE } from '../../src/sandbox/windows/capabilities';
import { CREDENTIALS_FILE } from '../../src/sandbox/windows/setup/constants';
import { SandboxError } from '../../src/errors';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';
import { MemoryStore } from './win32-memory-store';
import { FakeMachine } from './elevated-fake-machine';

const CAP = 'S-1-5-21-1-2-3-4';
const GROUP = 'S-1-5-21-9-9-9-1000';
const id: Identity = { userSid: 'S-1-5-21-9-9-9-1001', logonSid: 'S-1-5-5-0-1', capabilities: { 'c:\\ws': CAP } };

async function prepared() {
  const plan = compilePlan(
    { workspaceRoots: ['C:\\ws'] },
    {
      platform: 'win32',
      home: 'C:\\Users\\me',
      userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
      env: {},
      stateDir: 'C:\\state',
    },
  ) as Win32Plan;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-uninst-'));
  const store = new MemoryStore(['C:\\ws', plan.tempDir]);
  await prepare(plan, id, store, { stateDir, home: 'C:\\Users\\me', env: {} });
  return { stateDir, store, ledgerFile: path.join(stateDir, LEDGER_FILE) };
}

function elevatedRecord(p: string): LedgerRecord {
  return {
    path: p,
    sid: GROUP,
    action: 'grant',
    mask: 0x1200a9,
    inheritance: 3,
    reason: 'elevated-runtime-read',
    before: '',
    created: false,
    at: new Date(0).toISOString(),
  };
}

test('only the unelevated mode was used: every ledgered ACE and placeholder is reverted, and no elevation is asked for', async () => {
  const { stateDir, store, ledgerFile } = await prepared();
  assert.equal(store.kind('C:\\ws\\.git\\config'), 'file', 'prepare made the placeholder');
  fs.writeFileSync(path.join(stateDir, CREDENTIALS_FILE), '{}');
  let elevations = 0;
  const result = await uninstallWindows(
    uninstallDeps(stateDir, store, new FakeMachine(), async () => {
      elevations++;
      return { steps: [], leftovers: [] };
    }),
  );
  assert.equal(elevations, 0);
  assert.equal(result.elevated, false);
  assert.ok(result.aclReverted >= 3);
  assert.deepEqual(loadLedger(ledgerFile).records, []);
  assert.deepEqual(store.entries('C:\\ws'), []);
  for (const p of ['C:\\ws\\.git\\config', 'C:\\ws\\.git\\hooks', 'C:\\ws\\.git', 'C:\\ws\\.vscode'])
    assert.equal(store.kind(p), 'missing', p);
  assert.equal(store.kind('C:\\ws'), 'dir');
  assert.equal(fs.existsSync(path.join(stateDir, CREDENTIALS_FILE)), false, 'stale stored passwords are deleted too');
});

test("after the elevated setup: the unelevated ACEs are reverted here, the setup's grants are left to the one elevated run", async () => {
  const { stateDir, store, ledgerFile } = await prepared();
  const ledger = loadLedger(ledgerFile);
  ledger.records.push(elevatedRecord('C:\\Program Files\\Microsoft VS Code'));
  saveLedger(ledgerFile, ledger);
  const m = new FakeMachine();
  m.groups.set('AgentSandboxUsers', { sid: GROUP, members: [] });
  m.created.set('AgentSandboxUsers', GROUP); // setup recorded it as its own
  const progress: string[] = [];
  let elevations = 0;
  const result = await uninstallWindows(
    uninstallDeps(stateDir, store, m, async () => {
      elevations++;
      assert.deepEqual(
        loadLedger(ledgerFile).records.map((r) => r.reason),
        ['elevated-runtime-read'],
        'by the time the elevated part runs only its own records are left',
      );
      saveLedger(ledgerFile, { version: 1, records: [] }); // what the real elevated run does with its records
      return { steps: [{ id: 'group', title: 'Removing the group', status: 'changed' }], leftovers: [] };
    }),
    (msg) => progress.push(msg),
  );
  assert.equal(elevations, 1);
  assert.equal(result.elevated, true);
  assert.ok(
    progress.some((p) => /group AgentSandboxUsers/.test(p) && /1 folder permission\(s\) granted by setup/.test(p)),
    progress.join('\n'),
  );
});

test('an elevated part that reports success while its recorded grants remain does not make uninstall succeed; the record stays', async () => {
  const { stateDir, store, ledgerFile } = await prepared();
  const ledger = loadLedger(ledgerFile);
  ledger.records.push(elevatedRecord('C:\\Program Files\\Microsoft VS Code'));
  saveLedger(ledgerFile, ledger);
  await assert.rejects(
    uninstallWindows(uninstallDeps(stateDir, store, new FakeMachine(), async () => ({ steps: [], leftovers: [] }))),
    (e: unknown) =>
      e instanceof SandboxError &&
      e.code === 'setup-failed' &&
      /elevated-runtime-read on C:\\Program Files\\Microsoft VS Code/.test(e.message),
  );
  assert.deepEqual(
    loadLedger(ledgerFile).records.map((r) => r.reason),
    ['elevated-runtime-read'],
  );
});

test('a firewall rule that cannot be checked counts as present: elevation is asked for rather than skipped', async () => {
  const { stateDir, store } = await prepared();
  const m = new FakeMachine();
  m.getRules = async () => {
    throw new Error('E_NOTIMPL');
  };
  let elevations = 0;
  await uninstallWindows(
    uninstallDeps(stateDir, store, m, async () => {
      elevations++;
      return { steps: [], leftovers: [] };
    }),
  );
  assert.equal(elevations, 1);
});

test('an ACE that cannot be reverted is reported with its path and stays in the ledger; the rest are reverted', async () => {
  const { stateDir, store, ledgerFile } = await prepared();
  store.failOn.set('c:\\ws', () => new Error('SetNamedSecurityInfoW failed with error 5'));
  await assert.rejects(
    uninstallWindows(uninstallDeps(stateDir, store, new FakeMachine(), async () => ({ steps: [], leftovers: [] }))),
    (e: unknown) =>
      e instanceof SandboxError &&
      e.code === 'setup-failed' &&
      /C:\\ws \(writable-root\): SetNamedSecurityInfoW failed with error 5/.test(e.message),
  );
  assert.deepEqual(
    loadLedger(ledgerFile).records.map((r) => r.path),
    ['C:\\ws'],
  );
  assert.equal(store.kind('C:\\ws\\.git\\config'), 'missing');
});

test('a placeholder that now holds data is kept and reported, never deleted', async () => {
  const { stateDir, store } = await prepared();
  store.nonEmpty.add('c:\\ws\\.git\\config');
  const result = await uninstallWindows(
    uninstallDeps(stateDir, store, new FakeMachine(), async () => ({ steps: [], leftovers: [] })),
  );
  assert.deepEqual(result.keptCreated, ['C:\\ws\\.git\\config', 'C:\\ws\\.git'], 'and so is the folder holding it');
  assert.equal(store.kind('C:\\ws\\.git\\config'), 'file');
  assert.equal(store.kind('C:\\ws\\.git\\hooks'), 'missing');
});

test("remove this workspace: only its capability SID's ACEs and placeholders go, then its SID is forgotten; the other workspace is untouched", async () => {
  const CAP2 = 'S-1-5-21-1-2-3-5';
  const plan = compilePlan(
    { workspaceRoots: ['C:\\ws', 'C:\\ws2'] },
    {
      platform: 'win32',
      home: 'C:\\Users\\me',
      userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
      env: {},
      stateDir: 'C:\\state',
    },
  ) as Win32Plan;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-rmws-'));
  fs.writeFileSync(path.join(stateDir, CAPABILITY_FILE), JSON.stringify({ 'c:\\ws': CAP, 'c:\\ws2': CAP2 }));
  const store = new MemoryStore(['C:\\ws', 'C:\\ws2', plan.tempDir]);
  await prepare(plan, { ...id, capabilities: { 'c:\\ws': CAP, 'c:\\ws2': CAP2 } }, store, {
    stateDir,
    home: 'C:\\Users\\me',
    env: {},
  });
  const r = removeWorkspace(stateDir, 'C:\\WS2', store);
  assert.equal(r.sid, CAP2);
  assert.equal(r.failures.length, 0);
  assert.ok(r.reverted.length > 0 && r.reverted.every((x) => x.sid === CAP2));
  assert.ok(
    store.entries('C:\\ws2').every((e) => e.sid !== CAP2),
    'its grant is gone',
  );
  assert.ok(
    store.entries('C:\\ws').some((e) => e.sid === CAP && e.mode === 'grant'),
    'the other workspace keeps its grant',
  );
  assert.equal(store.kind('C:\\ws\\.git\\config'), 'file', "still denied for the other workspace's SID");
  assert.ok(store.entries('C:\\ws\\.git\\config').every((e) => e.sid === CAP));
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(stateDir, CAPABILITY_FILE), 'utf8')), { 'c:\\ws': CAP });
  assert.ok(loadLedger(path.join(stateDir, LEDGER_FILE)).records.every((x) => x.sid === CAP));
  assert.equal(removeWorkspace(stateDir, 'C:\\ws2', store).sid, undefined, 'a second removal finds nothing to do');
});
