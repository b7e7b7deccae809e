/**
 * Runs the Windows probes (./windows-probes) through the backend, the way the tool runs commands (pipes, not a
 * TTY), and turns each into a report row; probes a mode does not claim, or that need the verifier's own window or
 * repository, become notes saying why they were not checked. Must never turn a probe it did not run into a pass.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Plan } from '../policy/plan';
import type { SandboxBackend } from '../sandbox/types';
import type { VerifyCheck } from './types';
import { windowsProbes, type WindowsProbe, type WindowsVerifyFacts } from './windows-probes';

const PROBE_TIMEOUT_MS = 60_000;
/** STATUS_DLL_INIT_FAILED as an exit code: a console program that could not get a console (review §3.2). */
const DLL_INIT_FAILED = 3221225794;

/** Why a probe is left to a person even where it is expected to hold. */
function manualOnly(p: WindowsProbe, workspace: string): string | undefined {
  if (p.id === 'input-injection')
    return 'needs a window the verifier opens outside the sandbox: try it by hand (review §5.4)';
  if (p.id === 'git-status' && !fs.existsSync(path.join(workspace, '.git')))
    return "Verify's workspace is not a git repository: run `git status` in yours";
  return undefined;
}

async function run(
  backend: SandboxBackend,
  plan: Plan,
  cwd: string,
  argv: string[],
  tty: boolean,
): Promise<{ code: number | null; err: string }> {
  const proc = await backend.spawn(plan, {
    argv,
    cwd,
    stdio: 'pipe',
    timeoutMs: PROBE_TIMEOUT_MS,
    ...(tty ? { tty: { cols: 80, rows: 25 } } : {}),
  });
  let err = '';
  proc.stdout?.resume();
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdin?.end();
  const exit = await proc.exited;
  return { code: exit.code, err };
}

export async function runWindowsProbes(
  backend: SandboxBackend,
  plan: Plan,
  workspace: string,
  facts: WindowsVerifyFacts,
  fill: (arg: string) => string = (a) => a,
): Promise<{ rows: VerifyCheck[]; notes: string[] }> {
  const rows: VerifyCheck[] = [];
  const notes: string[] = [];
  for (const p of windowsProbes(facts)) {
    const manual = p.expect === 'not-checked' ? p.why : manualOnly(p, workspace);
    if (manual) {
      notes.push(`Windows probe ${p.id} not checked: ${manual}.`);
      continue;
    }
    // Console programs also through the terminal's path (ConPTY), as the sandboxed terminal runs them.
    for (const tty of p.id.startsWith('console-') ? [false, true] : [false])
      rows.push(await row(backend, plan, workspace, p, tty, fill));
  }
  return { rows, notes };
}

async function row(
  backend: SandboxBackend,
  plan: Plan,
  workspace: string,
  p: WindowsProbe,
  tty: boolean,
  fill: (arg: string) => string,
): Promise<VerifyCheck> {
  const expected = p.expect === 'works' ? ('SUCCEEDED' as const) : ('DENIED' as const);
  let observed: VerifyCheck['observed'];
  let detail: string;
  try {
    const r = await run(backend, plan, workspace, p.argv.map(fill), tty);
    observed = r.code === 0 ? 'SUCCEEDED' : 'DENIED';
    detail =
      `exit ${r.code}${r.code === DLL_INIT_FAILED ? ' (0xC0000142: no console for a console program)' : ''}` +
      (r.err.trim() ? `: ${r.err.trim().slice(0, 300)}` : '');
  } catch (e) {
    observed = 'FAILED';
    detail = (e as Error).message;
  }
  return {
    id: `windows-${p.id}${tty ? '-tty' : ''}`,
    title: `Windows${tty ? ' (terminal)' : ''}: ${p.argv.join(' ').slice(0, 80)}`,
    expected,
    observed,
    pass: observed === expected,
    meaning: p.why,
    detail,
  };
}
