// Unit: what setup does to %ProgramData%\AgentSandbox, over a real temporary folder with the ACL calls recorded
// (materialiseRuntime and releaseRuntimeRoot run unchanged; only the DACL calls are stand-ins). A root that predated
// setup has its DACL recorded before setup protects it, gets it back at uninstall, and is never deleted; folders
// setup made are recorded before they exist. That Windows applies the DACLs needs a real machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  materialiseRuntime,
  releaseRuntimeRoot,
  type RuntimeAcl,
  type RuntimeRootLedger,
  type RuntimeRootRecord,
} from '../../src/sandbox/windows/setup/runtime-copy';
import type { RuntimeLayout } from '../../src/sandbox/windows/setup/runtime-layout';

const GROUP = 'S-1-5-21-1-2-3-1001';
const THEIRS = 'D:AI(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)';

function world() {
  const pd = fs.mkdtempSync(path.join(os.tmpdir(), 'as-rtroot-'));
  const src = path.join(pd, 'src.js');
  fs.writeFileSync(src, '// runner');
  const root = path.join(pd, 'AgentSandbox');
  const dir = path.join(root, 'runtime', '0123456789abcdef');
  const layout: RuntimeLayout = {
    root,
    dir,
    hash: '0123456789abcdef',
    copies: [{ from: src, to: path.join('runner', 'runner.js') }],
    runtimeOf: 'node.exe',
    runtimeCopied: false,
    application: 'node.exe',
    script: path.join(dir, 'runner', 'runner.js'),
    probe: path.join(dir, 'runner', 'probe.js'),
    cwd: path.join(dir, 'runner'),
  };
  const calls: string[] = [];
  let record: RuntimeRootRecord | undefined;
  /** The record as each write left it, with whether the folders existed at that moment. */
  const writes: { record: RuntimeRootRecord | undefined; rootExisted: boolean }[] = [];
  const ledger: RuntimeRootLedger = {
    read: () => record && (JSON.parse(JSON.stringify(record)) as RuntimeRootRecord),
    write: (r) => {
      record = r && (JSON.parse(JSON.stringify(r)) as RuntimeRootRecord);
      writes.push({ record, rootExisted: fs.existsSync(root) });
    },
  };
  const acl: RuntimeAcl = {
    owner: () => 'S-1-5-32-544',
    protect: (p) => void calls.push(`protect ${p} (recorded: ${record?.daclBefore ?? 'nothing'})`),
    read: (p) => (calls.push(`read ${p}`), THEIRS),
    restore: (p, sddl) => void calls.push(`restore ${p} ${sddl}`),
  };
  return { pd, root, dir, layout, acl, ledger, calls, writes, record: () => record };
}

test('runtime root that predated setup: its DACL is recorded before it is protected, put back at uninstall, and the folder stays', () => {
  const w = world();
  fs.mkdirSync(w.root);
  fs.writeFileSync(path.join(w.root, 'theirs.txt'), 'x');
  materialiseRuntime(w.layout, GROUP, w.acl, w.ledger);
  assert.deepEqual(w.calls, [`read ${w.root}`, `protect ${w.root} (recorded: ${THEIRS})`]);
  assert.deepEqual(w.record(), { root: w.root, created: [path.join(w.root, 'runtime')], daclBefore: THEIRS });
  // Uninstall: the copy goes, then the root is released.
  fs.rmSync(w.dir, { recursive: true });
  releaseRuntimeRoot(w.root, w.acl, w.ledger);
  assert.equal(fs.existsSync(path.join(w.root, 'runtime')), false, 'the runtime folder setup made is gone');
  assert.equal(fs.existsSync(path.join(w.root, 'theirs.txt')), true, 'the root and what was in it stay');
  assert.equal(w.calls.at(-1), `restore ${w.root} ${THEIRS}`);
  assert.equal(w.record(), undefined, 'nothing recorded is left');
});

test('runtime root that predated setup stays even when empty at uninstall (control: one setup made goes)', () => {
  for (const predated of [true, false]) {
    const w = world();
    if (predated) fs.mkdirSync(w.root);
    materialiseRuntime(w.layout, GROUP, w.acl, w.ledger);
    fs.rmSync(w.dir, { recursive: true });
    releaseRuntimeRoot(w.root, w.acl, w.ledger);
    assert.equal(fs.existsSync(w.root), predated, `predated: ${predated}`);
    assert.equal(
      w.calls.some((c) => c.startsWith('restore')),
      predated,
    );
  }
});

test('runtime root setup creates: recorded before it exists; a crash right after the record leaves nothing uninstall trips on', () => {
  const w = world();
  materialiseRuntime(w.layout, GROUP, w.acl, w.ledger);
  assert.equal(w.writes[0].rootExisted, false, 'recorded before the folder was made');
  assert.deepEqual(w.writes[0].record?.created, [w.root]);
  assert.deepEqual(w.record()?.created, [w.root, path.join(w.root, 'runtime')]);
  assert.equal(w.record()?.daclBefore, undefined, 'a root setup made has no earlier DACL');
  // A crash after the first record: uninstall finds the record and no folder.
  const c = world();
  c.ledger.write({ root: c.root, created: [c.root] });
  releaseRuntimeRoot(c.root, c.acl, c.ledger);
  assert.equal(c.record(), undefined);
});

test("runtime root: another version's copy still there keeps the root, its record and its DACL", () => {
  const w = world();
  fs.mkdirSync(w.root);
  materialiseRuntime(w.layout, GROUP, w.acl, w.ledger);
  fs.mkdirSync(path.join(w.root, 'runtime', 'fedcba9876543210'));
  fs.rmSync(w.dir, { recursive: true });
  releaseRuntimeRoot(w.root, w.acl, w.ledger);
  assert.ok(w.record(), 'still recorded');
  assert.ok(!w.calls.some((c) => c.startsWith('restore')));
});
