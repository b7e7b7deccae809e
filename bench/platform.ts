/**
 * Per-platform facts for the benchmark: the commands it times and the description of the machine it ran on.
 * Chosen by exhaustive switches, so a new platform fails to compile until it is handled here.
 * Must never load a native library: Landlock and backend facts come from the backend's own status().
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Platform } from '../src/policy';
import { assertNever } from '../src/policy/paths';

export interface BenchCommands {
  /** The cheapest command that succeeds, as text for tables. */
  trueLabel: string;
  trueArgv: string[];
  /** Writes "x" to ./f in the current directory. */
  writeLabel: string;
  writeArgv: string[];
}

export function benchCommands(platform: Platform): BenchCommands {
  switch (platform) {
    case 'linux':
      return {
        trueLabel: '/bin/true',
        trueArgv: ['/bin/true'],
        writeLabel: "sh -c 'echo x > f'",
        writeArgv: ['sh', '-c', 'echo x > f'],
      };
    case 'win32':
      return {
        trueLabel: 'cmd /c exit 0',
        trueArgv: ['cmd', '/c', 'exit 0'],
        writeLabel: 'cmd /c "echo x> f"',
        writeArgv: ['cmd', '/c', 'echo x> f'],
      };
    default:
      return assertNever(platform);
  }
}

export interface Machine {
  platform: Platform;
  os: string;
  cpu: string;
  nproc: number;
  memoryGiB: number;
  node: string;
  /** Platform-specific facts (bubblewrap version, Windows build, ...), label → value. */
  extra: Record<string, string>;
}

export function describeMachine(platform: Platform): Machine {
  return {
    platform,
    os: `${osName(platform)} (${os.type()} ${os.release()}, ${os.arch()})`,
    cpu: os.cpus()[0]?.model?.trim() ?? 'unknown',
    nproc: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    extra: platformExtra(platform),
  };
}

function osName(platform: Platform): string {
  switch (platform) {
    case 'linux': {
      const rel = readOr('/etc/os-release', '');
      return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(rel)?.[1] ?? 'Linux';
    }
    case 'win32':
      return os.version();
    default:
      return assertNever(platform);
  }
}

function platformExtra(platform: Platform): Record<string, string> {
  switch (platform) {
    case 'linux': {
      const bwrap = spawnSync('bwrap', ['--version'], { encoding: 'utf8' });
      return { bubblewrap: bwrap.status === 0 ? bwrap.stdout.trim() : 'not installed' };
    }
    case 'win32':
      return {};
    default:
      return assertNever(platform);
  }
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** The 1/5/15-minute load averages, where the OS has them (Windows does not). */
export function loadAverage(platform: Platform): number[] | undefined {
  switch (platform) {
    case 'linux':
      return os.loadavg().map((l) => Math.round(l * 100) / 100);
    case 'win32':
      return undefined;
    default:
      return assertNever(platform);
  }
}
