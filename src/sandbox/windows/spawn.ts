/**
 * Runs one command in the unelevated sandbox: the plan's restricted token resolved for this user, started by the
 * shared launcher (./launch), its private TEMP/TMP created, and its end mapped by the shared Lifetime (timeout,
 * cancel, exit code). Must never start the command when any step fails (the launcher throws first).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Socket } from 'node:net';
import type { Win32Plan } from '../../policy/plan';
import type { ExitInfo, SandboxProcess, SpawnSpec } from '../types';
import { Lifetime } from '../lifetime';
import { startRestricted, type LaunchUi } from './launch';
import { resolveSid, type Identity } from './prepare';
import type { AclGuard } from './guard';
import { guardCommand } from './command-guard';

/** ssh/scp stubs put first on PATH in advisory-offline mode, so the common tools fail loudly instead of connecting. */
export function writeNetworkStubs(stateDir: string): string {
  const dir = path.join(stateDir, 'win32-offline-stubs');
  fs.mkdirSync(dir, { recursive: true });
  for (const tool of ['ssh', 'scp', 'sftp']) {
    fs.writeFileSync(
      path.join(dir, `${tool}.cmd`),
      `@echo agent-sandbox: ${tool} is disabled in offline mode (advisory: not a security boundary). 1>&2\r\n@exit /b 1\r\n`,
    );
  }
  return dir;
}

function endOf(stream: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.readableEnded) return resolve();
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

export async function spawnUnelevated(
  plan: Win32Plan,
  spec: SpawnSpec,
  id: Identity,
  env: Record<string, string>,
  ui: LaunchUi,
  guard?: AclGuard,
): Promise<Omit<SandboxProcess, 'enforcement'>> {
  fs.mkdirSync(plan.tempDir, { recursive: true });
  const lifetime = new Lifetime(spec, () => proc.kill());
  const proc = await startRestricted({
    argv: spec.argv,
    cwd: spec.cwd,
    env,
    pipeOwnerSid: id.userSid,
    pipePrefix: 'sandbox',
    ui,
    ...(plan.weakened?.noPseudoconsole ? { hiddenConsole: false } : {}),
    ...(spec.tty ? { tty: spec.tty } : {}),
    token: {
      flags: plan.token.flags.value,
      restrictingSids: plan.token.restrictingSids.map((s) => resolveSid(s, id)),
      keepPrivileges: plan.token.keepPrivileges,
      defaultDacl: plan.token.defaultDacl.map((d) => ({ sid: resolveSid(d.sid, id), mask: d.mask.value })),
    },
  });
  // A protected path the host replaced and whose deny could not be written again: the command is stopped.
  const guarded = guardCommand(guard, lifetime);
  const inherit = spec.stdio === 'inherit';
  if (inherit) {
    proc.stdout.pipe(process.stdout, { end: false });
    proc.stderr?.pipe(process.stderr, { end: false });
    process.stdin.pipe(proc.stdin);
  }
  const exited = (async (): Promise<ExitInfo> => {
    try {
      const code = await proc.exited;
      await Promise.all([proc.stdout, proc.stderr].filter((s): s is Socket => s !== null).map(endOf));
      return guarded(lifetime.finishWithoutSignals(code));
    } catch (e) {
      lifetime.finish(null, null); // disarms the timer and the abort listener
      throw e;
    } finally {
      guard?.close();
      if (inherit) {
        process.stdin.unpipe();
        process.stdin.pause();
      }
      proc[Symbol.dispose]();
    }
  })();
  // Cancelled before the command started (during preparation or the start): killed at once.
  lifetime.arm();
  return {
    stdin: inherit ? null : proc.stdin,
    stdout: inherit ? null : proc.stdout,
    stderr: inherit ? null : proc.stderr,
    exited,
    kill: () => lifetime.kill(),
    ...(proc.resize ? { resize: proc.resize } : {}),
  };
}
