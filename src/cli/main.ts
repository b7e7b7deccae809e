/**
 * The `agent-sandbox` CLI entry point: dispatches subcommands and maps failures to the exit-code contract.
 * A SandboxError always exits 125 with the reason and the fix: the command never runs unsandboxed.
 */
import { SandboxError, ExitCode } from '../sandbox/errors';
import { USAGE_EXIT, UsageError } from './args';
import type { CliCommand } from './commands';
import { planCommand } from './plan-command';
import { runCommand } from './run-command';
import { verifyCommand } from './verify-command';
import { setupCommand } from './setup-command';
import { statusCommand } from './status-command';
import { uninstallCommand } from './uninstall-command';

const COMMANDS: Record<string, CliCommand> = {
  run: runCommand,
  plan: planCommand,
  verify: verifyCommand,
  setup: setupCommand,
  uninstall: uninstallCommand,
  status: statusCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return `Usage: agent-sandbox <command> [options]

Commands:
${Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`).join('\n')}

Run "agent-sandbox <command> --help" for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? USAGE_EXIT : 0;
  }
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new UsageError(`Unknown command "${name}".`);
    return await cmd.main(rest);
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

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`agent-sandbox: ${String(e)}\n`);
      process.exitCode = ExitCode.SandboxFailed;
    },
  );
}
