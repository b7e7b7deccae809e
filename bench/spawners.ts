/**
 * The ways the benchmark starts a command: a plain child_process.spawn, a sandbox backend in this process, and
 * the CLI in a fresh Node. Each resolves once the command has exited and its output streams have closed, and
 * rejects unless it exited 0, so a broken sandbox can never be timed as a fast one.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Plan } from '../src/policy';
import type { SandboxBackend } from '../src/sandbox';

/** No single benchmarked command may take longer than this; a hang fails the case instead of the run. */
const RUN_TIMEOUT_MS = 30_000;

export function plainSpawn(argv: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: 'pipe', timeout: RUN_TIMEOUT_MS });
    let stderr = '';
    child.stdin.end();
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${argv.join(' ')} exited ${code ?? signal}: ${stderr.trim().slice(0, 800)}`));
    });
  });
}

/**
 * The timeout is our own rather than SpawnSpec.timeoutMs, so a timer the backend might leave armed after a fast
 * exit cannot keep the benchmark process alive.
 */
export async function sandboxSpawn(backend: SandboxBackend, plan: Plan, argv: string[], cwd: string): Promise<void> {
  const proc = await backend.spawn(plan, { argv, cwd, stdio: 'pipe' });
  const timer = setTimeout(() => proc.kill(), RUN_TIMEOUT_MS);
  let stderr = '';
  try {
    proc.stdin?.end();
    proc.stdout?.resume();
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const [exit] = await Promise.all([proc.exited, drained(proc.stdout), drained(proc.stderr)]);
    if (exit.code !== 0)
      throw new Error(`sandboxed ${argv.join(' ')} exited ${exit.code}: ${stderr.trim().slice(0, 800)}`);
  } finally {
    clearTimeout(timer);
  }
}

function drained(stream: Readable | null): Promise<void> {
  return stream ? finished(stream) : Promise.resolve();
}

/**
 * `node dist/cli.js run [--no-broker] [--network N] -- argv`, with the CLI's state kept in `stateDir`. `baseEnv`
 * replaces this process's environment (for the reference rows that leave out a variable); `warm` lets the call use
 * (and leave) a warm broker.
 */
export function cliRun(
  cliPath: string,
  network: string,
  argv: string[],
  cwd: string,
  stateDir: string,
  baseEnv: NodeJS.ProcessEnv = process.env,
  opts: { warm?: boolean } = {},
): Promise<void> {
  const env = { ...baseEnv, AGENT_SANDBOX_STATE_DIR: stateDir };
  // Cold rows must stay cold: they neither use nor leave a warm broker.
  const broker = opts.warm ? [] : ['--no-broker'];
  return plainSpawn([process.execPath, cliPath, 'run', ...broker, '--network', network, '--', ...argv], cwd, env);
}

/**
 * `dist/agent-sandbox run --network N -- argv` (Linux's fast launcher: a sh preamble, then Python, no Node on a warm
 * call; it falls back to `node dist/cli.js` itself), with the CLI's state kept in `stateDir`.
 */
export function fastRun(
  launcher: string,
  network: string,
  argv: string[],
  cwd: string,
  stateDir: string,
  baseEnv: NodeJS.ProcessEnv = process.env,
  options: string[] = [],
): Promise<void> {
  return plainSpawn([launcher, 'run', ...options, '--network', network, '--', ...argv], cwd, {
    ...baseEnv,
    AGENT_SANDBOX_STATE_DIR: stateDir,
  });
}

/**
 * Wraps a run of the write command: removes ./f first and checks afterwards that the command really wrote "x",
 * so a sandbox that silently blocked the write cannot look fast. Not part of the timed region.
 */
export function checkedWrite(
  cwd: string,
  run: () => Promise<void>,
): { before(): void; run(): Promise<void>; after(): void } {
  const file = path.join(cwd, 'f');
  return {
    before: () => fs.rmSync(file, { force: true }),
    run,
    after: () => {
      const got = fs.readFileSync(file, 'utf8').trim();
      if (got !== 'x') throw new Error(`the write command left ${JSON.stringify(got)} in ${file}, expected "x"`);
    },
  };
}
