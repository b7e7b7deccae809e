/**
 * Linux sandbox, the guard's reaction window under stress (issue 12 §1): the host's `git config` replaces
 * `.git/config` by renaming `config.lock` over it, which detaches the read-only mount inside a running sandbox; the
 * path is writable there until the guard has stopped the sandbox. Here a sandbox loops writing `.git/config` through
 * the path as fast as it can while the host, from another process, runs `git config` (one sandbox per replacement,
 * since the first replacement stops it). What is asserted is what the guard achieves every time: the sandbox is
 * stopped (exit 125, reason given) and no write lands after that stop. How often a write lands inside the window,
 * and how many, is measured and reported (a tight loop on another core usually wins some writes; the README says
 * so). Control: with the guard off, the sandbox is not stopped and keeps writing the host's file.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { LinuxPlan } from '../../../src/policy';
import { MountGuard } from '../../../src/sandbox/linux/guard';
import type { ExitInfo } from '../../../src/sandbox/types';
import { coldBackend, plan, tempDir } from './helpers';

const backend = coldBackend();
after(() => backend.dispose());

const TRIALS = Number(process.env.AGENT_SANDBOX_RACE_TRIALS ?? 200);
if (!(TRIALS > 0)) throw new Error('AGENT_SANDBOX_RACE_TRIALS must be a positive number of trials');
const hasGit = spawnSync('git', ['--version']).status === 0;

function repo(): string {
  const ws = tempDir('as-race-');
  spawnSync('git', ['init', '-q', ws]);
  return ws;
}

/** Counts the sandbox's sections in the host's config. */
const landed = (ws: string) =>
  (fs.readFileSync(path.join(ws, '.git', 'config'), 'utf8').match(/^\[pwned\]$/gm) ?? []).length;

/** The host's `git config` from its own process: lock file written, then renamed over .git/config. */
function hostGitConfig(ws: string, value: string): Promise<void> {
  return new Promise((resolve, reject) =>
    spawn('git', ['-C', ws, 'config', 'user.name', value], { stdio: 'ignore' })
      .on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`git config failed: ${code}`))))
      .on('error', reject),
  );
}

/** One trial: a sandbox writing .git/config in a tight loop, the host's `git config` once it runs. */
async function trial(p: LinuxPlan, ws: string, n: number): Promise<{ exit: ExitInfo; before: number; after: number }> {
  const proc = await backend.spawn(p, {
    argv: ['sh', '-c', "echo READY; while :; do printf '[pwned]\\n' >> .git/config; done 2>/dev/null"],
    cwd: ws,
    stdio: 'pipe',
    timeoutMs: 10_000,
  });
  proc.stdin?.end();
  proc.stderr?.resume();
  await new Promise<void>((resolve) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
    });
    proc.stdout?.once('close', () => resolve());
  });
  await hostGitConfig(ws, `host-${n}`);
  const exit = await proc.exited;
  const before = landed(ws);
  await new Promise((r) => setTimeout(r, 100));
  return { exit, before, after: landed(ws) };
}

describe('linux sandbox: the guard against a sandbox racing the host for a replaced .git/config', () => {
  it(`${TRIALS} host \`git config\` rename-replacements, each against a sandbox writing .git/config in a tight loop: every sandbox is stopped with the reason and no write lands after its stop (writes inside the reaction window are counted and reported); control: with the guard off the sandbox keeps writing`, async (t) => {
    if (!hasGit) return t.skip('git is not installed');
    let trialsWithWrites = 0;
    let writes = 0;
    for (let n = 0; n < TRIALS; n++) {
      const ws = repo();
      const r = await trial(plan({ workspaceRoots: [ws] }), ws, n);
      assert.equal(r.exit.code, 125, `trial ${n}: the sandbox was not stopped (${JSON.stringify(r.exit)})`);
      assert.match(r.exit.stopped ?? '', /\.git\/config was replaced on the host/);
      assert.equal(r.after, r.before, `trial ${n}: a write landed after the sandbox was reported stopped`);
      assert.match(fs.readFileSync(path.join(ws, '.git', 'config'), 'utf8'), new RegExp(`name = host-${n}`));
      if (r.before) trialsWithWrites++;
      writes += r.before;
      fs.rmSync(ws, { recursive: true, force: true });
    }
    t.diagnostic(
      `reaction window: writes landed in ${trialsWithWrites} of ${TRIALS} replacements (${writes} writes in all, ` +
        `${(writes / TRIALS).toFixed(1)} per replacement)`,
    );

    const ws = repo();
    const changed = Object.getOwnPropertyDescriptor(MountGuard.prototype, 'changed')!;
    MountGuard.prototype.changed = () => undefined;
    try {
      const proc = await backend.spawn(plan({ workspaceRoots: [ws] }), {
        argv: [
          'sh',
          '-c',
          "i=0; while [ $i -lt 200 ]; do printf '[pwned]\\n' >> .git/config; sleep 0.01; i=$((i+1)); done 2>/dev/null; echo done",
        ],
        cwd: ws,
        stdio: 'pipe',
      });
      proc.stdin?.end();
      proc.stdout?.resume();
      proc.stderr?.resume();
      await new Promise((r) => setTimeout(r, 500));
      await hostGitConfig(ws, 'host');
      const exit = await proc.exited;
      assert.equal(exit.code, 0, 'control: without the guard the sandbox is not stopped');
      assert.ok(landed(ws) > 10, `control: without the guard its writes land (${landed(ws)})`);
    } finally {
      Object.defineProperty(MountGuard.prototype, 'changed', changed);
    }
  });
});
