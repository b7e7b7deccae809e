/**
 * Shared fixtures for the Linux native tests: temp workspaces under os.tmpdir(), a temp state dir, plans compiled
 * for this host, and a helper that runs a command through the real backend and collects its output.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compilePlan, type LinuxPlan, type PolicyInput } from '../../../src/policy';
import { hostContext } from '../../../src/sandbox/host';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import type { ExitInfo, SandboxBackend, SpawnSpec } from '../../../src/sandbox/types';

export const REPO = path.resolve(__dirname, '..', '..', '..', '..');
export const CLI = path.join(REPO, 'dist', 'cli.js');
export const PROBE = path.join(__dirname, 'probe-inside.js');
export const NODE = process.execPath;

const created: string[] = [];
process.on('exit', () => {
  for (const d of created) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh folder under the system temp (canonical path), removed when the test process exits. */
export function tempDir(prefix: string): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  created.push(d);
  return d;
}

/**
 * A fresh folder outside the host's /tmp (which the sandbox replaces with its private temp), for fixtures the
 * sandbox must see but not write: escape targets, credential files, a workspace's parent.
 */
export function hostDir(prefix: string): string {
  const base = fs.existsSync('/var/tmp') ? '/var/tmp' : os.homedir();
  const d = fs.realpathSync(fs.mkdtempSync(path.join(base, prefix)));
  created.push(d);
  return d;
}

export const STATE_DIR = tempDir('as-state-');
process.env.AGENT_SANDBOX_STATE_DIR = STATE_DIR;

export function plan(input: PolicyInput, env: Record<string, string | undefined> = process.env): LinuxPlan {
  const p = compilePlan(input, hostContext({ platform: 'linux', stateDir: STATE_DIR, env }));
  if (p.platform !== 'linux') throw new Error('expected a linux plan');
  return p;
}

export interface Result extends ExitInfo {
  stdout: string;
  stderr: string;
}

/** Runs argv in the sandbox with piped stdio and collects everything. */
export async function run(
  backend: SandboxBackend,
  p: LinuxPlan,
  argv: string[],
  spec: Partial<SpawnSpec> & { input?: string } = {},
): Promise<Result> {
  const proc = await backend.spawn(p, { argv, cwd: p.workspaceRoots[0] ?? '/', stdio: 'pipe', ...spec });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = Promise.all(
    [proc.stdout, proc.stderr].map((s) => (s ? new Promise((r) => s.once('close', r)) : null)),
  );
  if (spec.input !== undefined) proc.stdin?.end(spec.input);
  else proc.stdin?.end();
  const exit = await proc.exited;
  await closed;
  return { ...exit, stdout, stderr };
}

export function coldBackend(): SandboxBackend {
  return createLinuxBackend({ stateDir: STATE_DIR, broker: false });
}

export function sh(script: string): string[] {
  return ['sh', '-c', script];
}

/** True when `pid` is still alive on the host. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until `cond` holds or `ms` pass (for effects that settle after an exit, e.g. a reaped process). */
export async function eventually(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** True when a heartbeat file (a loop writing the time into it) has stopped changing: its writer is gone. */
export async function heartbeatStopped(file: string): Promise<boolean> {
  await new Promise((res) => setTimeout(res, 300));
  const last = fs.readFileSync(file, 'utf8');
  await new Promise((res) => setTimeout(res, 500));
  return fs.readFileSync(file, 'utf8') === last;
}
