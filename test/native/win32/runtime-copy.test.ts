// Wine tier, plumbing only: setup's runner copy (review §3.4) is built from the staged build (dist/, koffi and its
// Windows prebuild, node.exe) into a temporary %ProgramData%, and the runner is started from the copy and runs
// commands over the broker's pipes. Wine neither enforces file DACLs nor runs CreateProcessWithLogonW, so these
// tests show the copy is complete and startable on its own, never that the sandbox account can start it, cannot
// write it, or cannot lstat the profile: that needs real Windows (Verify's realpath probe, the review's §5 check).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ownSid } from './fixture';
import { fileDaclSddl, fileOwnerSid, restoreFileDacl, setProtectedFileDacl } from '../../../native-bindings/win32/acl';
import { isWin32Error } from '../../../native-bindings/win32/errors';
import { BrokerClient, type BrokerPipes } from '../../../src/sandbox/windows/elevated/broker-client';
import {
  fileReader,
  materialiseRuntime,
  removeRuntimeCopy,
  runtimeCopyComplete,
  type RuntimeAcl,
  type RuntimeRootLedger,
  type RuntimeRootRecord,
} from '../../../src/sandbox/windows/setup/runtime-copy';
import { runtimeLayout, runtimeRootSddl } from '../../../src/sandbox/windows/setup/runtime-layout';

const APP = path.join(__dirname, '..', '..', '..', '..');

function stagedLayout(programData: string) {
  return runtimeLayout(
    {
      execPath: process.execPath,
      bundleDir: path.join(APP, 'dist'),
      packages: ['koffi', '@koromix/koffi-win32-x64'].map((name) => ({
        name,
        dir: path.join(APP, 'node_modules', ...name.split('/')),
      })),
      // The runtime's grandparent stands in for the profile, so node.exe is copied as from a profile install.
      home: path.dirname(path.dirname(process.execPath)),
      programData,
    },
    fileReader,
  );
}

test("runtime copy under Wine (plumbing only): the copy is complete, koffi loads from it, Verify's probe runs from it, and the runner started from it runs commands over the broker", async () => {
  const programData = fs.mkdtempSync(path.join(os.tmpdir(), 'asb-pd-'));
  const protectedDirs: string[] = [];
  // Wine maps DACLs to mode bits: the ACL calls are recorded here and exercised in the next test.
  const acl: RuntimeAcl = {
    owner: () => 'S-1-5-32-544',
    protect: (p) => void protectedDirs.push(p),
    read: () => 'D:AI',
    restore: () => undefined,
  };
  let record: RuntimeRootRecord | undefined;
  const ledger: RuntimeRootLedger = { read: () => record, write: (r) => (record = r) };
  const children: ChildProcess[] = [];
  try {
    const layout = stagedLayout(programData);
    assert.equal(layout.runtimeCopied, true);
    assert.equal(runtimeCopyComplete(layout), false);
    materialiseRuntime(layout, 'S-1-5-21-1-2-3-1001', acl, ledger);
    assert.equal(runtimeCopyComplete(layout), true);
    assert.deepEqual(protectedDirs, [layout.root]);
    assert.equal(fs.existsSync(`${layout.dir}.partial`), false, 'no staging folder left');

    // koffi (and its prebuild) resolve from the copy, not from the build tree.
    const probe = spawnSync(
      layout.application,
      ['-e', "process.stdout.write(JSON.stringify([require.resolve('koffi'), require('koffi').sizeof('void *')]))"],
      { cwd: layout.cwd, encoding: 'utf8' },
    );
    assert.equal(probe.status, 0, probe.stderr);
    const [resolved, size] = JSON.parse(probe.stdout) as [string, number];
    assert.ok(resolved.toLowerCase().startsWith(layout.dir.toLowerCase()), resolved);
    assert.equal(size, 8);

    // Verify's probe is in the copy and runs from it with the copy's runtime (elevated Verify starts it so).
    const spec = Buffer.from(JSON.stringify({ actions: [] })).toString('base64');
    const ran = spawnSync(layout.application, [layout.probe, spec], { cwd: os.tmpdir(), encoding: 'utf8' });
    assert.equal(ran.status, 0, ran.stderr);

    const launcher = async (pipes: BrokerPipes) => {
      const child = spawn(
        layout.application,
        [layout.script, '--broker', '--requests', pipes.requests, '--events', pipes.events],
        { cwd: layout.cwd, stdio: 'ignore' },
      );
      children.push(child);
      await new Promise((r) => child.once('spawn', r));
      return { pid: child.pid! };
    };
    const broker = await BrokerClient.start(ownSid(), launcher, 20_000);
    try {
      const cmd = broker.spawn({
        argv: ['cmd', '/c', 'echo from-the-copy'],
        cwd: os.tmpdir(),
        env: { ...process.env } as Record<string, string>,
        token: {
          flags: 0x1 | 0x4 | 0x8,
          restrictingSids: ['logon', 'S-1-1-0'],
          keepPrivileges: ['SeChangeNotifyPrivilege'],
          defaultDacl: [{ sid: 'logon', mask: 0x10000000 }],
        },
      });
      const out: Buffer[] = [];
      cmd.stdout.on('data', (b: Buffer) => out.push(b));
      assert.equal(await cmd.exited, 0);
      assert.match(Buffer.concat(out).toString(), /from-the-copy/);
    } finally {
      await broker.close();
    }

    // Control: without the copied prebuild, koffi does not load from the copy (it is the copy that is used).
    fs.rmSync(path.join(layout.cwd, 'node_modules', '@koromix'), { recursive: true });
    const broken = spawnSync(layout.application, ['-e', "require('koffi')"], { cwd: layout.cwd, encoding: 'utf8' });
    assert.notEqual(broken.status, 0);

    // A second materialise over the existing root checks its owner; a foreign owner is refused.
    assert.throws(
      () => materialiseRuntime(layout, 'S-1-5-21-1-2-3-1001', { ...acl, owner: () => 'S-1-5-21-9-9-9-1005' }, ledger),
      /owned by S-1-5-21-9-9-9-1005/,
    );
    materialiseRuntime(layout, 'S-1-5-21-1-2-3-1001', acl, ledger);
    assert.equal(runtimeCopyComplete(layout), true);

    assert.throws(() => removeRuntimeCopy(layout.root, layout.root, acl, ledger), /not a runtime copy/);
    removeRuntimeCopy(layout.dir, layout.root, acl, ledger);
    assert.equal(record, undefined, 'the root record is released with the last copy');
    assert.equal(fs.existsSync(layout.root), false, 'the copy, the runtime folder and the emptied root are gone');
  } finally {
    for (const c of children) c.kill();
    fs.rmSync(programData, { recursive: true, force: true });
  }
});

test('runtime root ACL bindings under Wine (plumbing only): fileDaclSddl, setProtectedFileDacl, restoreFileDacl and fileOwnerSid marshal and return; Wine enforces none of it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asb-acl-'));
  try {
    const before = fileDaclSddl(dir);
    assert.match(before, /^D:/);
    setProtectedFileDacl(dir, runtimeRootSddl(ownSid()));
    assert.match(fileOwnerSid(dir), /^S-1-5-[0-9-]+$/);
    // Putting back what was read (what uninstall does for a root that predated setup) marshals and returns.
    restoreFileDacl(dir, before);
    restoreFileDacl(dir, runtimeRootSddl(ownSid()));
    assert.throws(
      () => fileOwnerSid(path.join(dir, 'missing', 'x')),
      (e: unknown) => isWin32Error(e, 2) || isWin32Error(e, 3),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
