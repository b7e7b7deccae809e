/** The CLI's subcommand registry. Each subcommand lives in its own module and registers here. */
export interface CliCommand {
  summary: string;
  usage: string;
  /** Returns the process exit code. */
  main(argv: string[]): Promise<number>;
}
