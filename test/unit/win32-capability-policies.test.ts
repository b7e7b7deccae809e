// Unit: capability SIDs per policy (its writable folders) and root, over the in-memory store. Two policies on one
// folder (the extension's settings and a CLI run with `--write`, a tool call with extra paths beside the terminal)
// carry different SIDs, so preparing one never revokes what the other granted; removing one policy's ACEs keeps
// the other's; policies that differ only in protected paths share a SID (a change there writes just the
// difference). The control shows the old one-SID-per-folder sharing revoking the other policy's grant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepare, revertUnelevatedAcls, type Identity } from '../../src/sandbox/windows/prepare';
import { removeWorkspace } from '../../src/sandbox/windows/uninstall';
import { capabilitySidsFor, knownCapabilitySids } from '../../src/sandbox/windows/capabilities';
import { capabilityPolicyKey } from '../../src/policy/capability-key';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';
import { MemoryStore } from './win32-memory-store';

const ctx = (capabilitySids?: Record<string, string>) => ({
  platform: 'win32' as const,
  home: 'C:\\Users\\me',
  userTemp: 'C:\\Users\\me\\AppData\\Local\\Temp',
  env: {},
  stateDir: 'C:\\state',
  ...(capabilitySids ? { capabilitySids } : {}),
});

function planFor(extra: string[], policy: object = {}, facts?: Record<string, string>): Win32Plan {
  return compilePlan({ workspaceRoots: ['C:\\ws'], writableRoots: extra, ...policy }, ctx(facts)) as Win32Plan;
}

let n = 0;
/** What ownIdentity does, minus the token: the plan's policy's SIDs, minted in the state dir. */
function identityFor(plan: Win32Plan, stateDir: string): Identity {
  const roots = plan.workspaceRoots.length ? plan.workspaceRoots : [plan.tempDir];
  return {
    userSid: 'S-1-5-21-9-9-9-1000',
    logonSid: 'S-1-5-5-0-1',
    capabilities: capabilitySidsFor(
      stateDir,
      roots,
      capabilityPolicyKey(plan.writableRoots),
      () => `S-1-5-21-7-7-7-${++n}`,
    ),
  };
}

function world() {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cappol-'));
  const a = planFor(['C:\\data']); // e.g. a CLI run with --write C:\data
  const b = planFor([]); // the extension's settings on the same folder
  const store = new MemoryStore(['C:\\ws', 'C:\\data', a.tempDir]);
  const opts = { stateDir, home: 'C:\\Users\\me', env: {} };
  return { stateDir, a, b, store, opts, idA: identityFor(a, stateDir), idB: identityFor(b, stateDir) };
}

const grants = (store: MemoryStore, p: string, sid: string) =>
  store.entries(p).some((e) => e.sid === sid && e.mode === 'grant');

test('two policies on one folder get different capability SIDs; each SID is kept for life', () => {
  const w = world();
  const sidA = w.idA.capabilities['c:\\ws'];
  const sidB = w.idB.capabilities['c:\\ws'];
  assert.ok(sidA && sidB);
  assert.notEqual(sidA, sidB);
  assert.deepEqual(identityFor(w.a, w.stateDir), w.idA, 'the same policy gets the same SID again');
  assert.equal(Object.keys(knownCapabilitySids(w.stateDir)).length, 2);
});

test('two policies on one folder both keep their grants, whichever prepared last', async () => {
  const w = world();
  const sidA = w.idA.capabilities['c:\\ws'];
  const sidB = w.idB.capabilities['c:\\ws'];
  await prepare(w.a, w.idA, w.store, w.opts);
  await prepare(w.b, w.idB, w.store, w.opts);
  assert.ok(grants(w.store, 'C:\\data', sidA), "B's preparation leaves A's extra folder writable for A");
  assert.ok(grants(w.store, 'C:\\ws', sidA) && grants(w.store, 'C:\\ws', sidB));
  assert.ok(!grants(w.store, 'C:\\data', sidB), 'B never gets C:\\data');
  w.store.writes = 0;
  await prepare(w.a, w.idA, w.store, w.opts);
  await prepare(w.b, w.idB, w.store, w.opts);
  assert.equal(w.store.writes, 0, 'alternating between them writes nothing: no revoke and re-grant cycle');
});

test("control: one SID per folder (both policies sharing it) makes B's preparation revoke A's grant", async () => {
  const w = world();
  const shared = { ...w.idB, capabilities: { 'c:\\ws': w.idA.capabilities['c:\\ws'] } };
  await prepare(w.a, w.idA, w.store, w.opts);
  assert.ok(grants(w.store, 'C:\\data', w.idA.capabilities['c:\\ws']));
  await prepare(w.b, shared, w.store, w.opts);
  assert.ok(!grants(w.store, 'C:\\data', w.idA.capabilities['c:\\ws']), "A's running command would lose C:\\data");
});

test("removing one policy's ACEs keeps the other's; removing the workspace removes every policy's", async () => {
  const w = world();
  const sidA = w.idA.capabilities['c:\\ws'];
  const sidB = w.idB.capabilities['c:\\ws'];
  await prepare(w.a, w.idA, w.store, w.opts);
  await prepare(w.b, w.idB, w.store, w.opts);
  const r = revertUnelevatedAcls(w.stateDir, w.store, [sidA]);
  assert.equal(r.failures.length, 0);
  assert.ok(!grants(w.store, 'C:\\ws', sidA) && !grants(w.store, 'C:\\data', sidA), "A's grants are gone");
  assert.ok(grants(w.store, 'C:\\ws', sidB), 'B keeps its grant');
  assert.ok(
    w.store.entries('C:\\ws\\.vscode').some((e) => e.sid === sidB && e.mode === 'deny'),
    "B's protected paths stay protected (and their placeholders stay)",
  );
  const all = removeWorkspace(w.stateDir, 'C:\\ws', w.store);
  assert.deepEqual(new Set(all.sids), new Set([sidA, sidB]));
  assert.ok(!w.store.entries('C:\\ws').some((e) => e.sid === sidB));
  assert.deepEqual(knownCapabilitySids(w.stateDir), {}, 'both SIDs forgotten');
});

test('policies that differ only in protected paths share a SID (protections only add denies)', () => {
  const plain = capabilityPolicyKey(planFor([]).writableRoots);
  assert.equal(capabilityPolicyKey(planFor([], { protectedPaths: ['secrets/**'] }).writableRoots), plain);
  assert.notEqual(capabilityPolicyKey(planFor(['C:\\data']).writableRoots), plain);
  assert.equal(
    capabilityPolicyKey(['C:\\WS', 'c:\\data']),
    capabilityPolicyKey(['c:\\data', 'C:\\ws']),
    'order and case do not matter',
  );
});

test("a compiled plan names its own policy's SID from the facts, never another policy's for the same folder", () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cappol-'));
  const a = planFor(['C:\\data']);
  const sidA = identityFor(a, stateDir).capabilities['c:\\ws'];
  const facts = knownCapabilitySids(stateDir);
  const withA = planFor(['C:\\data'], {}, facts);
  assert.deepEqual(withA.token.restrictingSids[0], { kind: 'capability', root: 'C:\\ws', sid: sidA });
  assert.deepEqual(
    planFor([], {}, facts).token.restrictingSids[0],
    { kind: 'capability', root: 'C:\\ws' },
    "B's SID is not minted yet: named symbolically, not borrowed from A",
  );
});
