/**
 * Command lines for CreateProcessW. Windows passes one string; the child's C runtime splits it with the MSVCRT /
 * CommandLineToArgvW rules, so each argument is quoted to survive that split exactly. Batch files (.cmd/.bat) run
 * under cmd.exe, which also expands %VAR% and treats & | < > ^ ( ) as syntax, so their arguments are additionally
 * escaped (the approach Rust's std adopted after CVE-2024-24576) and arguments that cannot be made safe (CR, LF,
 * NUL) are refused. Pure: no I/O except the injected `exists` used to resolve the program on PATH.
 * Must never pass an argument through unquoted when it contains anything the parser treats specially.
 */
import * as path from 'node:path';
import { SandboxError, SandboxErrorCode } from '../../errors';

/**
 * Wraps `arg` in quotes. Backslashes are literal unless they precede a quote, so a run of n backslashes is kept
 * before ordinary characters and doubled before a quote (`quote` renders that quote) and before the closing quote.
 */
function quoteWith(arg: string, quote: (slashes: number) => string, char: (ch: string) => string = (ch) => ch): string {
  let out = '"';
  let slashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      slashes++;
      continue;
    }
    out += ch === '"' ? quote(slashes) : '\\'.repeat(slashes) + char(ch);
    slashes = 0;
  }
  return out + '\\'.repeat(slashes * 2) + '"';
}

/** Quotes one argument for the MSVCRT parser (CommandLineToArgvW rules): 2n+1 backslashes escape a quote. */
export function quoteArg(arg: string): string {
  if (arg !== '' && !/[\s"]/.test(arg)) return arg;
  return quoteWith(arg, (n) => '\\'.repeat(n * 2 + 1) + '"');
}

const BATCH_SPECIAL = /[\s"&|<>^()!%,;=@`']/;

/**
 * Quotes one argument for a batch file run by `cmd.exe /d /e:ON /v:OFF /s /c`. Inside quotes cmd.exe keeps
 * & | < > ^ ( ) literal; a quote is doubled (`""` keeps cmd.exe in quote mode, and a program the batch file passes
 * it on to reads it as one literal quote); `%cd:~,%` expands to nothing, so `%%cd:~,%` yields a literal % and no
 * variable can be expanded.
 */
export function quoteBatchArg(arg: string): string {
  if (/[\r\n\0]/.test(arg)) {
    throw new SandboxError(
      SandboxErrorCode.InvalidPolicy,
      `An argument for a batch file contains a line break or NUL, which cmd.exe cannot receive safely: ${JSON.stringify(arg)}`,
      'Pass the value another way (a file or an environment variable), or call the program the batch file wraps directly.',
    );
  }
  if (arg !== '' && !BATCH_SPECIAL.test(arg)) return arg;
  return quoteWith(
    arg,
    (n) => '\\'.repeat(n * 2) + '""',
    (ch) => (ch === '%' ? '%%cd:~,%' : ch),
  );
}

export function isBatchFile(program: string): boolean {
  return /\.(cmd|bat)$/i.test(program);
}

export interface CommandLine {
  /** The executable CreateProcessW should start (cmd.exe for batch files). */
  application: string;
  commandLine: string;
}

/**
 * The command line for `argv` once argv[0] is resolved to `program`. Batch files go through
 * `cmd.exe /d /e:ON /v:OFF /s /c "..."`: /s strips exactly the outer quotes, /v:OFF disables !VAR! expansion,
 * /d skips AutoRun commands.
 */
export function buildCommandLine(program: string, args: string[], comspec: string): CommandLine {
  if (isBatchFile(program)) {
    const inner = [quoteArg(program), ...args.map(quoteBatchArg)].join(' ');
    return { application: comspec, commandLine: `${quoteArg(comspec)} /d /e:ON /v:OFF /s /c "${inner}"` };
  }
  return { application: program, commandLine: [quoteArg(program), ...args.map(quoteArg)].join(' ') };
}

export interface ResolveEnv {
  PATH?: string;
  PATHEXT?: string;
}

/**
 * Finds argv[0] like cmd.exe does: a path with a directory is taken relative to `cwd`; a bare name is searched in
 * `cwd` then each PATH entry, trying it as given when it has an extension, then each PATHEXT extension.
 */
export function resolveProgram(
  name: string,
  cwd: string,
  env: ResolveEnv,
  exists: (p: string) => boolean,
): string | undefined {
  const w = path.win32;
  const exts = (env.PATHEXT || '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean);
  const candidates = (base: string) =>
    w.extname(base) ? [base, ...exts.map((e) => base + e)] : exts.map((e) => base + e);
  if (/[\\/]/.test(name) || w.isAbsolute(name)) {
    return candidates(w.resolve(cwd, name)).find(exists);
  }
  // Store app execution aliases (…\Microsoft\WindowsApps) cannot be started from a restricted token: skipped, so a
  // real install later on PATH wins.
  const dirs = [
    cwd,
    ...(env.PATH ?? '')
      .split(';')
      .filter(Boolean)
      .map((d) => d.replace(/^"(.*)"$/, '$1')),
  ].filter((d) => !/\\microsoft\\windowsapps\\?$/i.test(d));
  for (const dir of dirs) {
    const hit = candidates(w.join(dir, name)).find(exists);
    if (hit) return hit;
  }
  return undefined;
}
