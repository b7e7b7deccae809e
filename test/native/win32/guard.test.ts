// Wine tier: the Windows guard's plumbing against Wine's file calls. fs.watch (ReadDirectoryChangesW) fires when a
// file is renamed onto a protected `.git\config`, the new file ID is seen, and the re-apply runs through the real
// ACL bindings and the ledger file; a re-apply that fails while a command runs stops that command's job (exit 125,
// `stopped`). Plumbing only: Wine does not store file ACLs, so whether the deny really holds again is for real
// Windows (the last test, skipped here); the decision (what is written again, and nothing when nothing changed) is
// in test/unit/win32-guard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compilePlan } from '../../../src/policy';
import { hostContext } from '../../../src/sandbox/host';
import { AclGuard, fileIdentity, guardedOps } from '../../../src/sandbox/windows/guard';
import { LEDGER_FILE, reapplyProtections, resolveAclOps } from '../../../src/sandbox/windows/prepare';
import { fileSecurityStore } from '../../../src/sandbox/windows/file-store';
import { ownIdentity } from '../../../src/sandbox/windows/identity';
import { spawnUnelevated } from '../../../src/sandbox/windows/spawn';
import { sandboxEnv } from '../../../src/sandbox/windows/win-env';
import { loadLedger } from '../../../src/sandbox/windows/ledger';
import type { Win32Plan } from '../../../src/policy/plan';
import { createWindowsBackend } from '../../../src/sandbox/windows';
import { isWine } from '../../../native-bindings/win32/wine';

function gitFixture(prefix: string) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `as-${prefix}-`));
  const ws = path.join(base, 'ws');
  const stateDir = path.join(base, 'state');
  // A repository before the plan is compiled, so `.git\config` is protected as a file of its own.
  fs.mkdirSync(path.join(ws, '.git'), { recursive: true });
  fs.mkdirSync(stateDir);
  fs.writeFileSync(path.join(ws, '.git', 'config'), '[core]\n');
  fs.writeFileSync(path.join(ws, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  for (const d of ['hooks', 'objects', 'refs']) fs.mkdirSync(path.join(ws, '.git', d));
  const plan = compilePlan({ workspaceRoots: [ws] }, hostContext({ platform: 'win32', stateDir })) as Win32Plan;
  const id = ownIdentity(plan, stateDir);
  // The plan names the workspace as it resolved it (its real path), so the op is found by its ending.
  const all = guardedOps(resolveAclOps(plan, id));
  const ops = all.filter((o) => /\\\.git\\config$/i.test(o.path));
  assert.equal(ops.length, 1, `.git\\config is guarded: ${all.map((o) => o.path).join(', ')}`);
  const config = ops[0].path;
  const store = fileSecurityStore(stateDir);
  return { ws, stateDir, plan, id, config, ops, store, guardStore: { ...store, identity: fileIdentity } };
}

/** What git does: write config.lock, rename it onto config. */
function gitRename(config: string) {
  fs.writeFileSync(`${config}.lock`, '[core]\n\tbare = false\n');
  fs.renameSync(`${config}.lock`, config);
}

function waitFor<T>(what: string, get: () => T | undefined, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = get();
      if (v !== undefined) return resolve(v);
      if (Date.now() > until) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

test('the watch fires on a rename onto .git\\config and the re-apply runs through the ledger (plumbing only)', async () => {
  const fx = gitFixture('guard-watch');
  const opts = { stateDir: fx.stateDir, home: os.homedir() };
  let reapplied = 0;
  const guard = new AclGuard(
    fx.ops,
    fx.guardStore,
    (o) => {
      reapplied++;
      return reapplyProtections(o, fx.store, opts);
    },
    // The poll fallback is off (a minute): only the watch can see the rename in time.
    { tolerateUnstoredAcls: true, pollMs: 60_000 },
  );
  try {
    await guard.check();
    const before = reapplied;
    const idBefore = fileIdentity(fx.config);
    gitRename(fx.config);
    assert.notEqual(fileIdentity(fx.config), idBefore, 'Wine reports a new file ID for the renamed file');
    const note = await waitFor('the re-apply after the rename', () => guard.notes.find((n) => /replaced/.test(n)));
    assert.ok(reapplied > before);
    assert.match(note, /\.git\\config/i);
    assert.equal(guard.failed, undefined);
    const recs = loadLedger(path.join(fx.stateDir, LEDGER_FILE)).records;
    assert.ok(recs.some((r) => r.path.toLowerCase() === fx.config.toLowerCase() && r.action === 'deny'));
  } finally {
    guard.close();
  }
});

test('the poll fallback sees the rename where no watch is made (plumbing only)', async () => {
  const fx = gitFixture('guard-poll');
  const guard = new AclGuard(
    fx.ops,
    fx.guardStore,
    (o) => reapplyProtections(o, fx.store, { stateDir: fx.stateDir, home: os.homedir() }),
    { tolerateUnstoredAcls: true, pollOnly: true, pollMs: 50 },
  );
  try {
    await guard.check();
    gitRename(fx.config);
    await waitFor('the polled re-apply', () => guard.notes.find((n) => /replaced/.test(n)));
  } finally {
    guard.close();
  }
});

test('a re-apply that fails after a rename stops the running command: its job ends, exit 125 with the reason (plumbing only)', async () => {
  const fx = gitFixture('guard-stop');
  let armed = false;
  const guard = new AclGuard(
    fx.ops,
    fx.guardStore,
    async (o) => (armed ? o.map((op) => ({ op, error: new Error('access denied (test)') })) : []),
    { tolerateUnstoredAcls: true },
  );
  await guard.check();
  const spec = {
    argv: [process.execPath, '-e', 'setTimeout(() => {}, 30000)'],
    cwd: fx.ws,
    stdio: 'pipe' as const,
  };
  const started = Date.now();
  const proc = await spawnUnelevated(
    fx.plan,
    spec,
    fx.id,
    sandboxEnv(fx.plan, process.env),
    { uiLimits: false, breakaway: false },
    guard,
  );
  proc.stdin?.end();
  proc.stdout?.resume();
  proc.stderr?.resume();
  try {
    armed = true;
    gitRename(fx.config);
    const exit = await proc.exited;
    assert.equal(exit.code, 125);
    assert.match(exit.stopped ?? '', /\.git\\config/i);
    assert.ok(Date.now() - started < 25_000, 'stopped, not run to its end');
    assert.match(exit.guarded?.[0] ?? '', /could not be written again/);
  } finally {
    guard.close();
  }
});

test(
  'a running sandbox cannot write .git\\config after the host renames config.lock onto it (needs real Windows)',
  { skip: isWine() && 'Wine does not store file ACLs, so no deny holds before or after the rename' },
  async () => {
    const fx = gitFixture('guard-e2e');
    const backend = createWindowsBackend({ stateDir: fx.stateDir });
    // The sandboxed command tries to append to .git\config on each line it reads, and says what happened.
    const script =
      "const fs=require('fs');require('readline').createInterface({input:process.stdin}).on('line',()=>{" +
      `try{fs.appendFileSync(${JSON.stringify(fx.config)},'\\n[core]\\n\\tfsmonitor = planted\\n');console.log('wrote')}` +
      "catch(e){console.log('denied '+e.code)}})";
    const proc = await backend.spawn(fx.plan, {
      argv: [process.execPath, '-e', script],
      cwd: fx.ws,
      stdio: 'pipe',
    });
    const lines: string[] = [];
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split(/\r?\n/).filter(Boolean)));
    const attempt = async () => {
      const n = lines.length;
      proc.stdin?.write('try\n');
      return waitFor('the sandbox to answer', () => lines[n]);
    };
    try {
      assert.match(await attempt(), /^denied/, 'control: protected before the rename (the preparation)');
      gitRename(fx.config);
      // The guard reacts within milliseconds; the attempt comes well after.
      await new Promise((r) => setTimeout(r, 500));
      assert.match(await attempt(), /^denied/, 'protected again after the rename');
      assert.doesNotMatch(fs.readFileSync(fx.config, 'utf8'), /planted/);
    } finally {
      proc.stdin?.end();
      await proc.exited;
      await backend.dispose();
    }
    const exit = await proc.exited;
    assert.match((exit.guarded ?? []).join('\n'), /\.git\\config/i, 'the result says the protection was written again');
  },
);
