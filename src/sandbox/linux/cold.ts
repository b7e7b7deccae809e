/**
 * One-shot sandbox: a fresh bubblewrap + runner per command (the CLI's `run`). The runner gets the command's
 * stdio as its own and reports over IPC what it applied; spawn() resolves only once the sandbox is confirmed, with
 * that report as the process's enforcement, and throws SandboxError if it could not be applied. Killing the outer bwrap kills the namespace's init (via
 * --die-with-parent), which takes every process of the command with it, daemons included.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { LinuxPlan } from '../../policy/plan';
import type { Applied, FromRunner } from '../../protocol/linux';
import { appliedEnforcement } from './enforcement';
import { SandboxError, SandboxErrorCode } from '../../errors';
import type { ExitInfo, SandboxProcess, SpawnSpec } from '../types';
import { bwrapLaunch, commandRequest, runnerSandbox } from './launch';
import type { MountGuard } from './guard';
import { Lifetime } from '../lifetime';
import { attachUserNet } from './usernet';
import type { SandboxLimits } from './limits';

/** Allowlist: the proxy gateway folder to bind in, and the command's proxy variables. */
export interface ColdNetwork {
  proxyDir: string;
  env: Record<string, string>;
}

/**
 * `guard`: the sandbox is stopped (exit 125) as soon as one of its mounts no longer holds. `limits`: bubblewrap is
 * launched inside them, and the exit reports what was hit.
 */
export async function spawnCold(
  bwrap: string,
  plan: LinuxPlan,
  spec: SpawnSpec,
  network?: ColdNetwork,
  hide?: string[],
  guard?: MountGuard,
  limits?: SandboxLimits,
): Promise<SandboxProcess> {
  const tty = Boolean(spec.tty);
  if (tty && spec.stdio !== 'inherit') {
    throw new SandboxError(
      SandboxErrorCode.ProcessCreateFailed,
      "A terminal (tty) was requested with piped stdio; the Linux backend keeps the caller's own terminal.",
      'Use stdio "inherit" from a terminal (e.g. `agent-sandbox run --tty -- bash -i` as a terminal profile).',
    );
  }
  const launch = bwrapLaunch(bwrap, plan, { cwd: spec.cwd, tty, proxyDir: network?.proxyDir, hide });
  const s = spec.stdio;
  const start = limits?.wrap(launch.bwrap, launch.args) ?? { file: launch.bwrap, args: launch.args };
  const before = limits?.counts();
  const child = spawn(start.file, start.args, {
    stdio: [s, s, s, 'ipc', ...(plan.userNet ? ['pipe' as const] : [])],
    env: launch.env,
  });
  const lifetime = new Lifetime(spec, () => killSandbox(child));
  if (guard) guard.onBreach = (reason) => lifetime.stop(reason);
  let report: Extract<FromRunner, { type: 'exit' }> | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      const info = report ? lifetime.finish(report.code, report.signal) : lifetime.finish(code, signal);
      const hit = limits && before ? limits.hitsSince(before) : [];
      resolve(hit.length ? { ...info, limitsHit: hit } : info);
    });
  });
  child.on('message', (m: FromRunner) => {
    if (m.type !== 'exit') return;
    report = m;
    // The command has ended and its output is written: what is left (the runner's own exit, then bubblewrap
    // tearing the namespaces down, which kills anything the command left running) need not delay its caller.
    child.kill('SIGKILL');
  });
  const command = commandRequest(plan, spec.argv, spec.cwd, spec.env, network?.env);
  const started = confirmStart(child);
  // Handled now: a sandbox that dies while slirp4netns attaches rejects this before it is awaited below, and an
  // unhandled rejection would end the whole process (the CLI, the bench) instead of reporting the SandboxError.
  started.catch(() => undefined);
  if (plan.userNet) {
    try {
      await attachUserNet(child);
    } catch (e) {
      child.kill('SIGKILL');
      await started.catch(() => undefined);
      throw e;
    }
  }
  // A runner already gone (bwrap failed while the network was attached) is reported by `started` (its exit); the
  // callback keeps the closed channel from being an unhandled 'error' event that ends the whole process.
  child.send({ type: 'once', sandbox: runnerSandbox(plan), command }, () => undefined);
  const applied = await started;
  const changed = guard?.changed();
  if (changed) lifetime.stop(changed);
  lifetime.arm();
  // Writing to a command that has already exited fails with EPIPE; that is its exit, not our error.
  child.stdin?.on('error', () => undefined);
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    kill: () => lifetime.kill(),
    enforcement: appliedEnforcement(plan, applied, limits?.notes),
  };
}

/**
 * Kills a sandbox at once, synchronously: bubblewrap's child, the PID namespace's init, first (the kernel then
 * kills every process of the namespace), then bubblewrap itself. Killing bubblewrap alone reaches the namespace
 * only once its death has been noticed (--die-with-parent), a step later: the guard calls this from its inotify
 * callback, where every step counts (a replaced protected file is writable until the sandbox is gone).
 */
export function killSandbox(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    for (const c of fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean))
      process.kill(Number(c), 'SIGKILL');
  } catch {
    // gone already, or no children list on this kernel: killing bubblewrap below still ends the namespace
  }
  child.kill('SIGKILL');
}

/** Resolves with what the runner applied once the command started; throws otherwise. */
function confirmStart(child: ChildProcess): Promise<Applied> {
  let applied: Applied | undefined;
  return new Promise((resolve, reject) => {
    const fail = (err: SandboxError) => {
      cleanup();
      child.kill('SIGKILL');
      reject(err);
    };
    const onMessage = (m: FromRunner) => {
      if (m.type === 'applied') applied = m;
      else if (m.type === 'failed') fail(new SandboxError(m.code, `${m.message} Nothing was run.`, m.fix));
      else if (m.type === 'started') {
        cleanup();
        if (applied) resolve(applied);
        else
          fail(
            new SandboxError(
              SandboxErrorCode.Internal,
              'The sandbox runner started the command without reporting what it applied; it was killed.',
              'Report this bug.',
            ),
          );
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      fail(
        new SandboxError(
          SandboxErrorCode.BwrapUnusable,
          `The sandbox exited before the command started (bwrap ${signal ?? `exit ${code}`}); nothing was run.`,
          "Run `agent-sandbox run -- true` to see bubblewrap's message, and check the paths in the policy exist.",
        ),
      );
    const onError = (e: Error) =>
      fail(
        new SandboxError(
          SandboxErrorCode.BwrapUnusable,
          `Could not start bubblewrap: ${e.message}; nothing was run.`,
          'Install bubblewrap: `sudo apt-get install bubblewrap`.',
        ),
      );
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
