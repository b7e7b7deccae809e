/**
 * The `agent-sandbox` CLI entry point: dispatches subcommands and maps failures to the exit-code contract.
 * A SandboxError always exits 125 with the reason and the fix: the command never runs unsandboxed.
 */
import { SandboxError, ExitCode } from '../errors';
import { USAGE_EXIT, UsageError } from './args';
import type { CliCommand } from './commands';
import { DAEMON_COMMAND } from '../protocol/warm';

/** The launcher's warm client takes the Windows channel from this bundle on win32 (see scripts/build.mjs). */
export { pipeChannel } from './warm/channel-win32';

/**
 * Subcommands load on use: a one-shot `run` should not pay for evaluating verify's, setup's or the Windows
 * modules (tens of ms of every cold command).
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CliCommand> }> = {
  run: { summary: 'Run a command inside the sandbox.', load: async () => (await import('./run-command')).runCommand },
  plan: {
    summary: 'Print the compiled sandbox plan for a policy.',
    load: async () => (await import('./plan-command')).planCommand,
  },
  verify: {
    summary: 'Check that the sandbox holds on this machine (self-test).',
    load: async () => (await import('./verify-command')).verifyCommand,
  },
  setup: {
    summary: 'Windows: create the sandbox accounts and firewall rule (one administrator prompt).',
    load: async () => (await import('./setup-command')).setupCommand,
  },
  uninstall: {
    summary: 'Take back everything Agent Sandbox created (permissions, placeholders, accounts, rules).',
    load: async () => (await import('./uninstall-command')).uninstallCommand,
  },
  status: {
    summary: 'Windows: show whether the elevated sandbox is set up.',
    load: async () => (await import('./status-command')).statusCommand,
  },
  broker: {
    summary: 'List or stop the warm brokers that make repeated runs fast.',
    load: async () => (await import('./broker-command')).brokerCommand,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return `Usage: agent-sandbox <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Run "agent-sandbox <command> --help" for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // the warm broker's own process (started by a cold `run`, never by hand)
  if (name === DAEMON_COMMAND) return (await import('./warm/daemon')).runBrokerDaemon().catch(() => 0);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? USAGE_EXIT : 0;
  }
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new UsageError(`Unknown command "${name}".`);
    return await (await cmd.load()).main(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`agent-sandbox: ${e.message}\n${cmd ? `Run "agent-sandbox ${name} --help".` : usage()}\n`);
      return USAGE_EXIT;
    }
    if (e instanceof SandboxError) {
      process.stderr.write(`agent-sandbox: ${e.describe()}\nNothing was run. [${e.code}]\n`);
      return ExitCode.SandboxFailed;
    }
    process.stderr.write(`agent-sandbox: internal error: ${(e as Error)?.stack ?? String(e)}\nNothing more was run.\n`);
    return ExitCode.SandboxFailed;
  }
}

/** Runs the CLI as this process: exit code from `main`. Called by the launcher (`dist/cli.js`). */
export function runAsProcess(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`agent-sandbox: ${String(e)}\n`);
      process.exitCode = ExitCode.SandboxFailed;
    },
  );
}

if (require.main === module) runAsProcess(process.argv.slice(2));
