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
import { fillProbeArg, windowsProbes, type WindowsProbe, type WindowsVerifyFacts } from './windows-probes';

const PROBE_TIMEOUT_MS = 60_000;
/** STATUS_DLL_INIT_FAILED as an exit code: a console program that could not get a console (review §3.2). */
const DLL_INIT_FAILED = 3221225794;

/**
 * The window the verifier opens outside the sandbox for the input-injection probe (native-bindings/win32/window on
 * Windows): its handle for the probe, a pump for its messages, and its text, which is the effect judged.
 */
export interface InjectionTarget {
  readonly hwnd: bigint;
  pump(): void;
  text(): string;
  close(): void;
}

/** Why a probe is left to a person even where it is expected to hold. */
function manualOnly(p: WindowsProbe, workspace: string, canOpenTarget: boolean): string | undefined {
  if (p.id === 'input-injection' && !canOpenTarget)
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
  fill: (arg: string) => string = fillProbeArg,
  openTarget?: () => InjectionTarget,
): Promise<{ rows: VerifyCheck[]; notes: string[] }> {
  const rows: VerifyCheck[] = [];
  const notes: string[] = [];
  for (const p of windowsProbes(facts)) {
    const manual = p.expect === 'not-checked' ? p.why : manualOnly(p, workspace, openTarget !== undefined);
    if (manual) {
      notes.push(`Windows probe ${p.id} not checked: ${manual}.`);
      continue;
    }
    if (p.id === 'input-injection' && openTarget) {
      let target: InjectionTarget;
      try {
        target = openTarget();
      } catch (e) {
        notes.push(
          `Windows probe ${p.id} not checked: the target window could not be opened (${(e as Error).message}).`,
        );
        continue;
      }
      try {
        rows.push(await injectionRow(backend, plan, workspace, p, target, fill));
      } finally {
        target.close();
      }
      continue;
    }
    // Console programs also through the terminal's path (ConPTY), as the sandboxed terminal runs them.
    for (const tty of p.id.startsWith('console-') ? [false, true] : [false])
      rows.push(await row(backend, plan, workspace, p, tty, fill));
  }
  return { rows, notes };
}

/** Exit codes of INJECTION_SCRIPT: how far the escape got before it was refused. */
const INJECTION_STEPS: Record<number, string> = {
  0: 'OpenDesktop, SetThreadDesktop and PostMessage all succeeded',
  2: 'OpenDesktop("Default") was refused',
  3: 'SetThreadDesktop was refused',
  4: 'PostMessage was refused',
};

/** The input-injection probe, judged by its effect on the target window (pumped while it runs), not its exit. */
async function injectionRow(
  backend: SandboxBackend,
  plan: Plan,
  workspace: string,
  p: WindowsProbe,
  target: InjectionTarget,
  fill: (arg: string) => string,
): Promise<VerifyCheck> {
  const argv = p.argv.map((a) => fill(a).replace('{hwnd}', String(target.hwnd)));
  target.pump();
  const before = target.text();
  const pumping = setInterval(() => target.pump(), 50);
  let observed: VerifyCheck['observed'];
  let detail: string;
  try {
    const r = await run(backend, plan, workspace, argv, false);
    target.pump();
    const after = target.text();
    const landed = after !== before;
    observed = landed ? 'SUCCEEDED' : 'DENIED';
    detail =
      `exit ${r.code}${r.code !== null && INJECTION_STEPS[r.code] ? ` (${INJECTION_STEPS[r.code]})` : ''}; ` +
      (landed
        ? `the window outside received ${JSON.stringify(after.slice(before.length))}`
        : 'the window outside received nothing') +
      (r.err.trim() ? `: ${r.err.trim().slice(0, 300)}` : '');
  } catch (e) {
    observed = 'FAILED';
    detail = (e as Error).message;
  } finally {
    clearInterval(pumping);
  }
  return {
    id: `windows-${p.id}`,
    title:
      'Windows: input from the sandbox into a window outside it (OpenDesktop Default, SetThreadDesktop, PostMessage)',
    expected: 'DENIED',
    observed,
    pass: observed === 'DENIED',
    meaning: p.why,
    detail,
  };
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
  const argv = p.argv.map(fill);
  try {
    const r = await run(backend, plan, workspace, argv, tty);
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
    title: `Windows${tty ? ' (terminal)' : ''}: ${argv.join(' ').slice(0, 80)}`,
    expected,
    observed,
    pass: observed === expected,
    meaning: p.why,
    detail,
  };
}
