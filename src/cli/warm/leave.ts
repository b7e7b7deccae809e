/**
 * Leaves a warm broker behind after a cold `run` (Linux and Windows): a detached `__broker-daemon` process with no stdio of
 * the caller's, keyed like the warm client will look for it. Does nothing for calls that could not go warm
 * (a terminal on stdio, --tty, options the warm path does not parse) or when the bundles are not beside us.
 * A broker already listening on the key makes the new one exit at once.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isatty } from 'node:tty';
import { isWithin } from '../../policy/paths';
import { warmChannel } from './channels';
import { defaultStateDir, SandboxError, SandboxErrorCode } from '../../sandbox';
import {
  bootPath,
  brokerDir,
  DAEMON_COMMAND,
  inputKey,
  SPEC_ENV,
  warmCall,
  type DaemonSpec,
} from '../../protocol/warm';

/**
 * Refuses folders that would bring the user's broker sockets into a sandbox (every sandbox's /tmp is its own, but a
 * root bound back inside it, or around it, would show them).
 */
export function refuseBrokerFolder(roots: string[], platform: 'linux' | 'win32' = 'linux'): void {
  const dir = brokerDir(platform);
  const bad = roots.find((r) => isWithin(platform, r, dir) || isWithin(platform, dir, r));
  if (bad) {
    throw new SandboxError(
      SandboxErrorCode.RootRefused,
      `${bad} is refused: it would let sandboxed commands reach ${dir}, ` + 'where your warm brokers listen.',
      'Choose the project folder itself.',
    );
  }
}

export function leaveBroker(runArgv: string[]): void {
  const call = warmCall(['run', ...runArgv], process.env, isatty);
  const launcher = path.join(__dirname, 'cli.js');
  const bundle = path.join(__dirname, 'cli-main.js');
  if (!call || !fs.existsSync(launcher) || !fs.existsSync(bundle)) return;
  const cwd = process.cwd();
  const spec: DaemonSpec = { key: inputKey(call.policyArgs, cwd, process.env, bundle), policyArgs: call.policyArgs };
  const env: NodeJS.ProcessEnv = { ...process.env, [SPEC_ENV]: JSON.stringify(spec) };
  if (process.versions.electron) env.ELECTRON_RUN_AS_NODE = '1';
  const dir = brokerDir();
  if (warmChannel().makeDir(dir)) return;
  try {
    // Windows: detached (DETACHED_PROCESS: no console of the caller's, so its Ctrl-C never reaches the broker) and
    // windowsHide, so no window shows
    const child = spawn(process.execPath, [launcher, DAEMON_COMMAND], {
      cwd,
      env,
      detached: true,
      stdio: 'ignore',
      windowsHide: true,
    });
    child.unref();
    // Named at once, before its Node even starts: an uninstall right after this run must find it (see control.ts).
    if (child.pid)
      fs.writeFileSync(bootPath(dir, child.pid), JSON.stringify({ stateDir: defaultStateDir() }), { mode: 0o600 });
  } catch {
    // No broker this time; the next cold run tries again.
  }
}
