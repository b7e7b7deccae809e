// The elevated runner's copy outside the profile (review §3.4): which files go where, the folder's name (a hash of
// what is copied), its DACL as data, and the setup/uninstall steps that make, record, replace and remove it, over
// the in-memory machine. That Windows lets the sandbox account start the copy, and that its DACL holds, needs a
// real machine; the Wine tier checks only the copy and the launch from it (plumbing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  isRuntimeCopyDir,
  runtimeLayout,
  runtimeRoot,
  runtimeRootSddl,
  type RuntimeSource,
  type SourceReader,
} from '../../src/sandbox/windows/setup/runtime-layout';
import { buildSetupPlan } from '../../src/sandbox/windows/setup/setup-plan';
import { setupSteps, type SetupState } from '../../src/sandbox/windows/setup/setup-steps';
import { leftovers, uninstallSteps } from '../../src/sandbox/windows/setup/uninstall-steps';
import { runAllSteps, runSteps } from '../../src/sandbox/windows/setup/steps';
import { performElevated } from '../../src/sandbox/windows/setup/elevated-action';
import { machineRuntimeRoot } from '../../src/sandbox/windows/setup/runtime-copy';
import { win32Machine } from '../../src/sandbox/windows/setup/machine-win32';
import { FakeMachine } from './elevated-fake-machine';
import { elevatedPlan, HOME } from './win32-elevated-plan-fixture';
import { probeCommand } from '../../src/verify';
import { compilePlan } from '../../src/policy';

const EXT = `${HOME}\\.vscode\\extensions\\agent-sandbox.agent-sandbox-0.1.0`;
const CODE = `${HOME}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe`;

function source(over: Partial<RuntimeSource> = {}): RuntimeSource {
  return {
    execPath: CODE,
    bundleDir: `${EXT}\\dist`,
    packages: [
      { name: 'koffi', dir: `${EXT}\\node_modules\\koffi` },
      { name: '@koromix/koffi-win32-x64', dir: `${EXT}\\node_modules\\@koromix\\koffi-win32-x64` },
    ],
    home: HOME,
    programData: 'C:\\ProgramData',
    ...over,
  };
}

/** A reader over named contents; `order` reverses listings (the hash must not depend on it). */
function reader(contents: Record<string, string> = {}, stamp = '1000:1', reverse = false): SourceReader {
  const files: Record<string, string[]> = {
    [`${EXT}\\node_modules\\koffi`]: ['package.json', 'index.cjs', 'src\\koffi\\index.cjs'],
    [`${EXT}\\node_modules\\@koromix\\koffi-win32-x64`]: ['package.json', 'win32_x64\\koffi.node'],
  };
  return {
    files: (dir) => {
      const list = [...(files[dir] ?? [])];
      return reverse ? list.reverse() : list;
    },
    digest: (file) => `sha(${contents[file] ?? file})`,
    stamp: () => stamp,
  };
}

test('runtime layout: VS Code installed in the profile is copied whole, and the runner starts from the copy', () => {
  const l = runtimeLayout(source(), reader());
  assert.match(l.hash, /^[0-9a-f]{16}$/);
  assert.equal(l.root, 'C:\\ProgramData\\AgentSandbox');
  assert.equal(l.dir, `C:\\ProgramData\\AgentSandbox\\runtime\\${l.hash}`);
  assert.equal(l.runtimeCopied, true);
  assert.equal(l.application, `${l.dir}\\runtime\\Code.exe`);
  assert.equal(l.script, `${l.dir}\\runner\\runner.js`);
  assert.equal(l.cwd, `${l.dir}\\runner`);
  assert.deepEqual(
    l.copies.map((c) => [c.from, c.to]),
    [
      [`${EXT}\\dist\\runner.js`, 'runner\\runner.js'],
      [`${EXT}\\dist\\runner-win32.js`, 'runner\\runner-win32.js'],
      [`${EXT}\\dist\\probe.js`, 'runner\\probe.js'],
      [`${EXT}\\node_modules\\koffi`, 'runner\\node_modules\\koffi'],
      [`${EXT}\\node_modules\\@koromix\\koffi-win32-x64`, 'runner\\node_modules\\@koromix\\koffi-win32-x64'],
      [`${HOME}\\AppData\\Local\\Programs\\Microsoft VS Code`, 'runtime'],
    ],
  );
  assert.equal(l.probe, `${l.dir}\\runner\\probe.js`);
  assert.ok(
    [l.application, l.script, l.cwd, l.probe].every((p) => !p.toLowerCase().startsWith(HOME.toLowerCase())),
    'nothing the logon or Verify starts is under the profile',
  );
});

test('runtime layout: node.exe in the profile is copied alone; a runtime outside the profile is not copied', () => {
  const node = runtimeLayout(source({ execPath: `${HOME}\\AppData\\Roaming\\nvm\\v22\\node.exe` }), reader());
  assert.deepEqual(node.copies.at(-1), {
    from: `${HOME}\\AppData\\Roaming\\nvm\\v22\\node.exe`,
    to: 'runtime\\node.exe',
  });
  assert.equal(node.application, `${node.dir}\\runtime\\node.exe`);

  const system = runtimeLayout(source({ execPath: 'C:\\Program Files\\Microsoft VS Code\\Code.exe' }), reader());
  assert.equal(system.runtimeCopied, false);
  assert.equal(system.application, 'C:\\Program Files\\Microsoft VS Code\\Code.exe');
  assert.ok(system.copies.every((c) => c.to.startsWith('runner\\')));

  // Control: a folder whose name merely starts with the profile's is another profile, not this one.
  const other = runtimeLayout(source({ execPath: 'C:\\Users\\devil\\node.exe' }), reader());
  assert.equal(other.runtimeCopied, false);
});

test('runtime layout: the folder name is a hash of what is copied (any runner, koffi or runtime change gets a new folder)', () => {
  const base = runtimeLayout(source(), reader()).hash;
  assert.equal(runtimeLayout(source(), reader()).hash, base, 'stable for the same content');
  assert.equal(runtimeLayout(source(), reader({}, '1000:1', true)).hash, base, 'independent of listing order');
  assert.notEqual(runtimeLayout(source(), reader({ [`${EXT}\\dist\\runner-win32.js`]: 'v2' })).hash, base);
  assert.notEqual(runtimeLayout(source(), reader({ [`${EXT}\\dist\\probe.js`]: 'v2' })).hash, base, "Verify's probe");
  assert.notEqual(
    runtimeLayout(source(), reader({ [`${EXT}\\node_modules\\@koromix\\koffi-win32-x64\\win32_x64\\koffi.node`]: 'x' }))
      .hash,
    base,
  );
  assert.notEqual(runtimeLayout(source(), reader({}, '2000:2')).hash, base, 'a runtime update (new executable)');
  // The extension moving folder with the same content keeps the copy: only content counts.
  const moved = 'C:\\Users\\dev\\.vscode\\extensions\\agent-sandbox.agent-sandbox-0.1.1';
  const movedReader = reader();
  const movedSrc = source({
    bundleDir: `${moved}\\dist`,
    packages: source().packages.map((p) => ({ ...p, dir: p.dir.replace(EXT, moved) })),
  });
  const r: SourceReader = {
    files: (d) => movedReader.files(d.replace(moved, EXT)),
    digest: (f) => movedReader.digest(f.replace(moved, EXT)),
    stamp: movedReader.stamp,
  };
  assert.equal(runtimeLayout(movedSrc, r).hash, base);
});

test('runtime root: refuses a %ProgramData% that is relative or a network path', () => {
  assert.throws(() => runtimeRoot('ProgramData'), /not a local absolute path/);
  assert.throws(() => runtimeRoot('\\\\server\\share'), /not a local absolute path/);
  assert.equal(runtimeRoot('D:\\PD'), 'D:\\PD\\AgentSandbox');
});

test('runtime root DACL: protected, Administrators and SYSTEM full, the group and Users read and run, nobody else writes', () => {
  const sddl = runtimeRootSddl('S-1-5-21-1-2-3-1001');
  assert.ok(sddl.startsWith('D:P'), 'protected from ProgramData, which lets Users create folders');
  const aces = sddl
    .slice(3)
    .match(/\(([^)]*)\)/g)!
    .map((a) => a.slice(1, -1).split(';'));
  assert.deepEqual(
    aces.map((a) => [a[0], a[1], a[2], a[5]]),
    [
      ['A', 'OICI', 'FA', 'SY'],
      ['A', 'OICI', 'FA', 'BA'],
      ['A', 'OICI', '0x1200a9', 'S-1-5-21-1-2-3-1001'],
      ['A', 'OICI', '0x1200a9', 'BU'],
    ],
  );
  // FILE_WRITE_DATA, APPEND, WRITE_EA, DELETE_CHILD, WRITE_ATTRIBUTES, DELETE, WRITE_DAC, WRITE_OWNER.
  const writeBits = 0x2 | 0x4 | 0x10 | 0x40 | 0x100 | 0x10000 | 0x40000 | 0x80000;
  assert.equal(0x1200a9 & writeBits, 0);
});

test('runtime copy folders: only <root>\\runtime\\<16 hex> is ever removed', () => {
  const root = 'C:\\ProgramData\\AgentSandbox';
  assert.equal(isRuntimeCopyDir(`${root}\\runtime\\0123456789abcdef`, root), true);
  for (const bad of [
    root,
    `${root}\\runtime`,
    `${root}\\runtime\\0123456789abcdef\\runner`,
    `${root}\\runtime\\..\\..\\Microsoft`,
    'C:\\Users\\dev\\runtime\\0123456789abcdef',
    `${root}\\runtime\\not-a-hash-at-all`,
    // Through `..`, even where it would lead back inside; short (8.3) names; what Windows reads differently.
    `${root}\\runtime\\..\\runtime\\0123456789abcdef`,
    `C:\\Other\\..\\ProgramData\\AgentSandbox\\runtime\\0123456789abcdef`,
    `C:\\PROGRA~3\\AgentSandbox\\runtime\\0123456789abcdef`,
    `C:\\ProgramData\\AGENTS~1\\runtime\\0123456789abcdef`,
    `${root}\\runtime\\0123456789abcdef.`,
    `${root}\\runtime\\0123456789abcdef `,
    `${root}\\runtime\\0123456789abcdef::$DATA`,
    `\\\\?\\${root}\\runtime\\0123456789abcdef`,
    `\\\\server\\share\\AgentSandbox\\runtime\\0123456789abcdef`,
    'runtime\\0123456789abcdef',
  ]) {
    assert.equal(isRuntimeCopyDir(bad, root), false, bad);
  }
  // Letter case and slashes are Windows' to ignore: the same folder.
  assert.equal(isRuntimeCopyDir('c:\\PROGRAMDATA\\agentsandbox\\RUNTIME\\0123456789ABCDEF', root), true);
  assert.equal(isRuntimeCopyDir('C:/ProgramData/AgentSandbox/runtime/0123456789abcdef', root), true);
});

test('runtime copy folders: the root comes from %ProgramData%, never from the recorded path (a forged record is refused)', async () => {
  // The real machine's wiring (nothing native runs: the check refuses before any call).
  const machine = win32Machine({ stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'as-rt-')), home: HOME });
  assert.equal(machineRuntimeRoot({ ProgramData: 'C:\\ProgramData' }), 'C:\\ProgramData\\AgentSandbox');
  assert.equal(machineRuntimeRoot({ PROGRAMDATA: 'D:\\PD' }), 'D:\\PD\\AgentSandbox');
  assert.throws(() => machineRuntimeRoot({}), /ProgramData/);
  const saved = process.env.ProgramData;
  process.env.ProgramData = 'C:\\ProgramData';
  try {
    // A record naming another folder shaped like a copy: its own "root" two levels up would have matched.
    for (const forged of ['C:\\Users\\dev\\runtime\\0123456789abcdef', 'D:\\AgentSandbox\\runtime\\0123456789abcdef'])
      await assert.rejects(
        machine.removeRuntimeCopy(forged),
        /not a runtime copy under C:\\ProgramData\\AgentSandbox/,
        forged,
      );
  } finally {
    if (saved === undefined) delete process.env.ProgramData;
    else process.env.ProgramData = saved;
  }
});

const layout = runtimeLayout(source(), reader());
const plan = { ...buildSetupPlan({ home: HOME }), runtime: layout };
const newPassword = () => 'Pw-xxxxxxxxxxxxxxxxxxxxxxxxxxxx';
const setup = (m: FakeMachine, p = plan) => runSteps(setupSteps(p, m, newPassword, { users: [] } as SetupState));
const dirs = (m: FakeMachine) => m.runtimeRecord.map((r) => r.dir);
const stepOf = (run: Awaited<ReturnType<typeof setup>>, id: string) => run.outcomes.find((o) => o.id === id)!;

test('setup runtime step: copies and records once, for the group setup created; a second run changes nothing', async () => {
  const m = new FakeMachine();
  const first = await setup(m);
  assert.equal(first.ok, true, JSON.stringify(first.outcomes));
  assert.equal(stepOf(first, 'runtime').status, 'changed');
  assert.deepEqual(m.runtimeRecord, [{ dir: layout.dir, runtimeOf: CODE.toLowerCase() }]);
  assert.deepEqual(m.copies.get(layout.dir), { hash: layout.hash, groupSid: m.groups.get('AgentSandboxUsers')!.sid });
  const before = m.snapshot();
  const second = await setup(m);
  assert.equal(stepOf(second, 'runtime').status, 'unchanged');
  assert.equal(m.snapshot(), before);
});

test('setup runtime step: the record is written before the copy, so a crash mid-copy is still removed by uninstall', async () => {
  const m = new FakeMachine();
  let calls = 0;
  const real = m.materialiseRuntime.bind(m);
  m.materialiseRuntime = async () => {
    calls++;
    throw new Error('disk full');
  };
  const run = await setup(m);
  assert.equal(run.ok, false);
  assert.equal(stepOf(run, 'runtime').error?.code, 'setup-runtime-copy-failed');
  assert.equal(calls, 1);
  assert.deepEqual(dirs(m), [layout.dir], 'recorded although the copy failed');
  m.materialiseRuntime = real;
  const again = await setup(m);
  assert.equal(again.ok, true, 'a rerun resumes');
  assert.ok(m.copies.has(layout.dir));
});

test('setup runtime step: a copy that does not read back complete fails the step (fail closed)', async () => {
  const m = new FakeMachine();
  m.materialiseRuntime = async () => {};
  const run = await setup(m);
  assert.equal(stepOf(run, 'runtime').status, 'failed');
  assert.match(stepOf(run, 'runtime').error!.message, /incomplete/);
  assert.equal(stepOf(run, 'marker').status, 'skipped', 'setup is not marked done');
});

test('setup runtime step: a new version replaces the old copy; one still in use stays recorded with a problem', async () => {
  const m = new FakeMachine();
  await setup(m);
  const v2 = runtimeLayout(source(), reader({ [`${EXT}\\dist\\runner.js`]: 'v2' }));
  const run2 = await setup(m, { ...plan, runtime: v2 });
  assert.equal(stepOf(run2, 'runtime').status, 'changed');
  assert.deepEqual([...m.copies.keys()], [v2.dir]);
  assert.deepEqual(dirs(m), [v2.dir]);

  const v3 = runtimeLayout(source(), reader({ [`${EXT}\\dist\\runner.js`]: 'v3' }));
  m.busyCopies.add(v2.dir);
  const run3 = await setup(m, { ...plan, runtime: v3 });
  assert.equal(run3.ok, true);
  assert.match(stepOf(run3, 'runtime').problems.join(), /earlier copy stays/);
  assert.deepEqual(dirs(m).sort(), [v2.dir, v3.dir].sort());
});

test("setup runtime step: another runtime's copy (the CLI's node.exe beside VS Code) is kept, not replaced", async () => {
  const m = new FakeMachine();
  const cli = runtimeLayout(source({ execPath: `${HOME}\\AppData\\Roaming\\nvm\\v22\\node.exe` }), reader());
  await setup(m, { ...plan, runtime: cli });
  const run = await setup(m);
  assert.equal(stepOf(run, 'runtime').status, 'changed');
  assert.deepEqual([...m.copies.keys()].sort(), [cli.dir, layout.dir].sort());
  assert.deepEqual(dirs(m).sort(), [cli.dir, layout.dir].sort());
});

test('uninstall removes every recorded copy and the record; a busy one is a failed step, a leftover, and stays recorded', async () => {
  const m = new FakeMachine();
  await setup(m);
  m.busyCopies.add(layout.dir);
  const run = await runAllSteps(uninstallSteps(m, m.marker));
  assert.equal(run.outcomes.find((o) => o.id === 'runtime')!.error?.code, 'uninstall-runtime-copy-failed');
  assert.deepEqual(dirs(m), [layout.dir]);
  assert.deepEqual(await leftovers(plan.firewall, m), [`runner copy ${layout.dir}`]);

  m.busyCopies.clear();
  const again = await runAllSteps(uninstallSteps(m, m.marker));
  assert.equal(again.outcomes.find((o) => o.id === 'runtime')!.status, 'changed');
  assert.equal(m.copies.size, 0);
  assert.deepEqual(m.runtimeRecord, []);
  assert.deepEqual(await leftovers(plan.firewall, m), []);
});

test('performElevated: setup computes the copy layout in the elevated process; uninstall never does', async () => {
  const req = {
    version: 1 as const,
    pipe: '\\\\.\\pipe\\agent-sandbox-x',
    nonce: '0'.repeat(32),
    stateDir: 'C:\\s',
    home: HOME,
    grants: [],
  };
  const m = new FakeMachine();
  let computed = 0;
  const thunk = () => {
    computed++;
    return layout;
  };
  const s = await performElevated({ ...req, action: 'setup' }, m, newPassword, undefined, thunk);
  assert.equal(s.ok, true);
  assert.equal(computed, 1);
  assert.ok(m.copies.has(layout.dir));
  await performElevated({ ...req, action: 'uninstall' }, m, newPassword, undefined, thunk);
  assert.equal(computed, 1);
  assert.equal(m.copies.size, 0);
});

test('performElevated: a layout that cannot be computed fails the copy step after the steps before it, and setup is not marked done', async () => {
  const m = new FakeMachine();
  const r = await performElevated(
    {
      version: 1,
      action: 'setup',
      pipe: '\\\\.\\pipe\\agent-sandbox-x',
      nonce: '0'.repeat(32),
      stateDir: 'C:\\s',
      home: HOME,
      grants: [],
    },
    m,
    newPassword,
    undefined,
    () => {
      throw new Error('the runner can only be copied from a build (dist/)');
    },
  );
  assert.equal(r.ok, false);
  const step = r.steps.find((s) => s.id === 'runtime')!;
  assert.equal(step.error?.code, 'setup-runtime-copy-failed');
  assert.match(step.error!.message, /cannot be copied: the runner can only be copied from a build/);
  assert.equal(r.steps.find((s) => s.id === 'group')!.status, 'changed');
  assert.equal(r.steps.find((s) => s.id === 'marker')!.status, 'skipped');
  assert.equal(m.marker, undefined);
});

test("Verify's probe command: elevated runs the probe from setup's copy with the copy's runtime; unelevated and Linux from the build", async () => {
  const l = runtimeLayout(source(), reader());
  const elevated = elevatedPlan(['C:\\ws'], { groupSid: 'S-1-5-21-1-1-1-1' });
  assert.deepEqual(await probeCommand(elevated, async () => l), [l.application, l.probe]);
  const unelevated = compilePlan(
    { workspaceRoots: ['C:\\ws'] },
    { platform: 'win32', home: HOME, userTemp: 'C:\\t', env: {}, stateDir: 'C:\\s' },
  );
  const fromBuild = await probeCommand(unelevated, async () => assert.fail('the copy is for elevated mode only'));
  assert.equal(fromBuild[0], process.execPath);
  assert.match(fromBuild[1], /[\\/]dist[\\/]probe\.js$/);
});
