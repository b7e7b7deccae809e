/** A CLI subcommand: its help text and entry point. Each lives in its own module, registered in main.ts. */
export interface CliCommand {
  usage: string;
  /** Returns the process exit code. */
  main(argv: string[]): Promise<number>;
}
