/**
 * Checks that bubblewrap exists and can create the namespaces the plan needs, with a tiny probe sandbox, and
 * turns each failure into a SandboxError naming the exact fix. Runs once per process (cached). Never runs a
 * command outside the sandbox.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxError, SandboxErrorCode } from '../../errors';

export interface BwrapProbe {
  ok: boolean;
  bwrap?: string;
  version?: string;
  error?: SandboxError;
}

const APPARMOR_SYSCTL = '/proc/sys/kernel/apparmor_restrict_unprivileged_userns';
let cached: BwrapProbe | undefined;

/**
 * Where bubblewrap is looked for. Never the caller's PATH: a PATH entry inside the workspace (`.venv/bin`,
 * `node_modules/.bin`) is writable by sandboxed commands, and a `bwrap` planted there would run on the host with
 * the user's rights the next time a sandbox starts.
 */
export const BWRAP_DIRS = ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin', '/sbin'];

/**
 * bwrap from the system folders, or exactly `AGENT_SANDBOX_BWRAP` when that is set; either way only a file that
 * root owns and nobody else can change, in a folder likewise (`unsafeBwrap` says why one is refused).
 */
export function findBwrap(env = process.env): string | undefined {
  if (env.AGENT_SANDBOX_BWRAP)
    return isExecutable(env.AGENT_SANDBOX_BWRAP) && !unsafeBwrap(env.AGENT_SANDBOX_BWRAP)
      ? env.AGENT_SANDBOX_BWRAP
      : undefined;
  return BWRAP_DIRS.map((d) => path.join(d, 'bwrap')).find((p) => isExecutable(p) && !unsafeBwrap(p));
}

/** Why `p` cannot be trusted as bubblewrap (someone other than root could replace it), or undefined. */
export function unsafeBwrap(p: string): string | undefined {
  for (const f of [p, path.dirname(p)]) {
    try {
      const st = fs.statSync(f);
      if (st.uid !== 0) return `${f} is not owned by root`;
      if (st.mode & 0o022) return `${f} can be changed by users other than root`;
    } catch (e) {
      return `${f}: ${(e as Error).message}`;
    }
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function probeBwrap(): BwrapProbe {
  cached ??= runProbe();
  return cached;
}

/** bubblewrap's version when this process has probed it already (a one-shot run does not probe). */
export function probedBwrapVersion(): string | undefined {
  return cached?.version;
}

function runProbe(): BwrapProbe {
  const bwrap = findBwrap();
  const explicit = process.env.AGENT_SANDBOX_BWRAP;
  const refused = (explicit ? [explicit] : BWRAP_DIRS.map((d) => path.join(d, 'bwrap'))).find(
    (p) => isExecutable(p) && unsafeBwrap(p),
  );
  if (!bwrap && refused) {
    return {
      ok: false,
      bwrap: refused,
      error: new SandboxError(
        SandboxErrorCode.BwrapUnusable,
        `${refused} was not used as bubblewrap: ${unsafeBwrap(refused)}, so it could have been replaced (for example ` +
          'by a sandboxed command), and nothing was run.',
        "Install bubblewrap from your distribution's packages (root-owned, in /usr/bin), or point AGENT_SANDBOX_BWRAP " +
          'at a bwrap that only root can change.',
      ),
    };
  }
  if (!bwrap) {
    return {
      ok: false,
      error: new SandboxError(
        SandboxErrorCode.BwrapMissing,
        'bubblewrap (bwrap) is not installed, so the Linux sandbox cannot start and nothing was run.',
        'Install it: `sudo apt-get install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` (Fedora), ' +
          '`sudo pacman -S bubblewrap` (Arch).',
      ),
    };
  }
  const version = spawnSync(bwrap, ['--version'], { encoding: 'utf8' }).stdout?.trim();
  const r = spawnSync(
    bwrap,
    [
      '--ro-bind',
      '/',
      '/',
      '--dev',
      '/dev',
      '--proc',
      '/proc',
      '--unshare-pid',
      '--unshare-net',
      '--die-with-parent',
      '--',
      'true',
    ],
    { encoding: 'utf8', timeout: 20_000, env: { PATH: '/usr/bin:/bin' } },
  );
  if (r.status === 0) return { ok: true, bwrap, version };
  const stderr = (r.stderr || r.error?.message || `exit ${r.status}`).trim();
  return { ok: false, bwrap, version, error: unusable(bwrap, stderr) };
}

function unusable(bwrap: string, stderr: string): SandboxError {
  const apparmor = readSysctl(APPARMOR_SYSCTL) === '1';
  const userns = readSysctl('/proc/sys/user/max_user_namespaces');
  let fix: string;
  if (apparmor) {
    fix =
      'Ubuntu 24.04+ restricts unprivileged user namespaces through AppArmor. Either allow bwrap with an ' +
      'AppArmor profile (create /etc/apparmor.d/bwrap with `abi <abi/4.0>, include <tunables/global> profile ' +
      `bwrap ${bwrap} flags=(unconfined) { userns, }` +
      '` and run `sudo apparmor_parser -r /etc/apparmor.d/bwrap`), ' +
      'or turn the restriction off: `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (persist it in ' +
      '/etc/sysctl.d/).';
  } else if (userns === '0') {
    fix =
      'User namespaces are disabled: `sudo sysctl -w user.max_user_namespaces=15000` (persist it in /etc/sysctl.d/).';
  } else {
    fix =
      'Check that unprivileged user namespaces are allowed (`sysctl kernel.unprivileged_userns_clone=1` on ' +
      'Debian kernels, `kernel.apparmor_restrict_unprivileged_userns=0` on Ubuntu), or install bwrap setuid.';
  }
  return new SandboxError(
    SandboxErrorCode.BwrapUnusable,
    `bubblewrap (${bwrap}) cannot create a sandbox here, so nothing was run. It said: ${stderr}`,
    fix,
  );
}

function readSysctl(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return undefined;
  }
}
