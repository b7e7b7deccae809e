/**
 * `agent-sandbox run`: run one command inside the sandbox, streaming its stdio. Exit codes: the command's own;
 * 124 on timeout; 125 when the sandbox could not be applied (nothing ran); 128+N when killed by signal N.
 */
import * as fs from 'node:fs';
import { cloexecAbove2, inheritableFds } from '../../native-bindings/linux/fds';
import { compilePlan, type Plan, type PolicyInput } from '../policy';
import type { CompileContext } from '../policy/compile';
import {
  backendFor,
  defaultStateDir,
  hostContext,
  hostPlatform,
  watchNestedGit,
  weakerThanAsked,
  type SandboxBackend,
  type SandboxProcess,
  type SpawnSpec,
} from '../sandbox';
import { parse, platformFlag, policyInput, positiveSeconds, POLICY_HELP, POLICY_OPTIONS, UsageError } from './args';
import type { CliCommand } from './commands';
import { SandboxError, SandboxErrorCode } from '../errors';
import { leaveBroker, refuseBrokerFolder } from './warm/leave';
import type { NetworkDenial } from '../network/proxy';
import { denialLine, uniqueDenials } from '../network/denial-text';

/**
 * Compiles the policy with the backend's facts (so the plan is the one that runs), starts the command, and says
 * plainly, on every run, when what the spawned process reports it applied is less than the policy asks for (for
 * example Windows' unelevated offline mode, or Wine). `ctx` overrides the host's context (tests, previews).
 */
export async function runWith(
  backend: SandboxBackend,
  input: PolicyInput,
  ctx: Partial<CompileContext>,
  spec: SpawnSpec,
  warn: (line: string) => void,
): Promise<{ plan: Plan; proc: SandboxProcess; untrusted: () => string | undefined }> {
  const plan = compilePlan(input, hostContext({ ...ctx, ...(await backend.planFacts()) }));
  // every sandbox's /tmp is its own, but a root bound back inside the broker folder, or around it, would show it
  if (plan.platform === 'linux') refuseBrokerFolder(plan.writableRoots.concat(plan.workspaceRoots));
  const untrusted = watchNestedGit(plan.writableRoots);
  const proc = await backend.spawn(plan, spec);
  for (const w of weakerThanAsked(proc.enforcement, plan.warnings)) warn(`agent-sandbox: warning: ${w}\n`);
  return { plan, proc, untrusted };
}

/** Allowlist mode: one stderr line per blocked host, or (`--json`) one JSON line carrying the list. */
function reportBlocked(blocked: NetworkDenial[], code: number, json: boolean): void {
  if (json) {
    process.stderr.write(JSON.stringify({ agentSandbox: { exitCode: code, blocked } }) + '\n');
    return;
  }
  for (const d of blocked) process.stderr.write(`agent-sandbox: ${denialLine(d, (g) => `--allow-domain ${g}`)}\n`);
}

/** The caller's working folder; a SandboxError (nothing runs) when it was deleted under the caller's shell. */
function workingFolder(): string {
  try {
    return process.cwd();
  } catch (e) {
    throw new SandboxError(
      SandboxErrorCode.RootMissing,
      `The working folder this command was started from no longer exists (${(e as Error).message}); nothing was run.`,
      'cd to an existing folder and run the command again.',
    );
  }
}

/**
 * Linux: no descriptor our caller leaked to us (a shell's `exec 200>>file`, a pipe, a socket) passes on to
 * bubblewrap, the runner or the warm broker we leave; the runner closes its own before the command too. They are
 * closed outright: Node opens all of its own close-on-exec, so those left are the caller's, and we never use them
 * (this also spares loading koffi, about 15 ms of a cold run). The one exception is an IPC channel a Node parent
 * gave us (`process.channel`): then every descriptor is only marked close-on-exec, as before.
 */
function closeInherited(): void {
  const leaked = inheritableFds();
  if (!leaked.length) return;
  if (process.channel) return cloexecAbove2();
  for (const fd of leaked) {
    try {
      fs.closeSync(fd);
    } catch {
      // already gone
    }
  }
}

export const runCommand: CliCommand = {
  usage: `Usage: agent-sandbox run [options] [--timeout SEC] -- COMMAND [ARGS...]

Runs COMMAND inside the sandbox: it may write only inside the workspace folders (minus protected paths) and the
sandbox's private temp, and with --network offline (the default) it cannot reach the network.

${POLICY_HELP}
  --timeout SEC         Kill the whole process tree after SEC seconds and exit 124.
  --json                At exit, print one JSON line on stderr: {"agentSandbox":{"exitCode":N,"blocked":[...]}}
                        (the blocked connections, allowlist mode) instead of the blocked-host lines.
  --tty                 Keep this terminal as the command's controlling terminal (interactive shells, job
                        control; for the sandboxed terminal profile). TIOCSTI stays blocked.
  --no-broker           Neither use nor leave behind a warm broker (also AGENT_SANDBOX_BROKER=0). By
                        default a run whose stdio is not a terminal leaves a broker for its policy and folder,
                        and later such runs start their command in it at once (see "agent-sandbox broker").

Exit codes: the command's own; 124 timeout; 125 the sandbox could not be applied and nothing ran;
128+N the command was killed by signal N; 2 bad arguments.`,
  async main(argv) {
    const dash = argv.indexOf('--');
    const own = dash === -1 ? argv : argv.slice(0, dash);
    const command = dash === -1 ? [] : argv.slice(dash + 1);
    const { values, positionals } = parse(
      own,
      {
        ...POLICY_OPTIONS,
        timeout: { type: 'string' },
        tty: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'no-broker': { type: 'boolean', default: false },
      },
      true,
    );
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    if (positionals.length) {
      throw new UsageError(`Put the command after "--": agent-sandbox run -- ${positionals.join(' ')}`);
    }
    if (!command.length)
      throw new UsageError('No command given. Usage: agent-sandbox run [options] -- COMMAND [ARGS...]');
    const timeout = positiveSeconds(values.timeout as string | undefined, '--timeout');
    const platform = platformFlag(values, hostPlatform());
    const stateDir = defaultStateDir();
    workingFolder(); // a deleted working folder is said as such, before anything else
    if (platform === 'linux') closeInherited();
    delete process.env.ELECTRON_RUN_AS_NODE; // VS Code starts the CLI with it; sandboxed commands must not inherit it
    const backend = await backendFor(platform, { stateDir, broker: false });
    const ac = new AbortController();
    const onSignal = () => ac.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('SIGHUP', onSignal);
    try {
      const { plan, proc, untrusted } = await runWith(
        backend,
        policyInput(values, process.cwd()),
        { platform, stateDir },
        {
          argv: command,
          cwd: process.cwd(),
          stdio: 'inherit',
          tty: values.tty ? { cols: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 } : undefined,
          timeoutMs: timeout === undefined ? undefined : timeout * 1000,
          signal: ac.signal,
        },
        (line) => process.stderr.write(line),
      );
      const confined = plan.platform === 'linux' ? plan.confined !== false : plan.mode !== 'full-access';
      if (confined && !values['no-broker']) leaveBroker(argv);
      const exit = await proc.exited;
      if (exit.timedOut) process.stderr.write(`agent-sandbox: timed out after ${timeout}s; the command was killed.\n`);
      if (exit.stopped)
        process.stderr.write(`agent-sandbox: the sandbox stopped the command: ${exit.stopped}. Run it again.\n`);
      for (const note of exit.guarded ?? []) process.stderr.write(`agent-sandbox: ${note}\n`);
      for (const hit of exit.limitsHit ?? [])
        process.stderr.write(`agent-sandbox: ${hit} (agentSandbox.maxProcesses / maxMemoryMb).\n`);
      const report = untrusted();
      if (report) process.stderr.write(`agent-sandbox: warning: ${report}\n`);
      reportBlocked(uniqueDenials(proc.networkDenials?.() ?? []), exit.code, Boolean(values.json));
      return exit.code;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      await backend.dispose();
    }
  },
};
