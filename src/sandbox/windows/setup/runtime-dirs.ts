/**
 * Which folders the sandbox accounts must be able to read and run: the runtime executing us (VS Code or Node), git,
 * and configured tool folders. Folders under Program Files or Windows are skipped: builtin Users can already read
 * them, and a grant there would rewrite thousands of ACLs for nothing. `runtimeDirs` is pure over the environment
 * given; `machineRuntimeDirs` reads this process's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runnerPackageRoot } from '../runner-script';

export interface RuntimeDirInput {
  execPath: string;
  env: Record<string, string | undefined>;
  exists: (p: string) => boolean;
}

export function runtimeDirs(i: RuntimeDirInput): { dirs: string[]; alreadyReadable: string[] } {
  const w = path.win32;
  const candidates = [w.dirname(i.execPath)];
  const git = (i.env.PATH ?? i.env.Path ?? '')
    .split(';')
    .filter(Boolean)
    .map((d) => d.replace(/^"(.*)"$/, '$1'))
    .find((d) => i.exists(w.join(d, 'git.exe')));
  // git.exe lives in <root>\cmd or <root>\bin; the whole install must be readable.
  if (git) candidates.push(/\\(cmd|bin)$/i.test(git) ? w.dirname(git) : git);
  const readable = [i.env.ProgramFiles, i.env['ProgramFiles(x86)'], i.env.SystemRoot]
    .filter((d): d is string => Boolean(d))
    .map((d) => w.normalize(d).toLowerCase());
  const under = (p: string) => readable.some((r) => p.toLowerCase() === r || p.toLowerCase().startsWith(r + '\\'));
  const dirs: string[] = [];
  const alreadyReadable: string[] = [];
  for (const c of candidates.map((d) => w.normalize(d))) (under(c) ? alreadyReadable : dirs).push(c);
  return { dirs: [...new Set(dirs)], alreadyReadable: [...new Set(alreadyReadable)] };
}

/**
 * The runtime folders elevated mode plans for on this machine: this runtime, git, the extension's folder (or for
 * the CLI its package: the runner and koffi live there), and configured tool folders.
 */
export function machineRuntimeDirs(extra: { extensionDir?: string; toolDirs?: string[] } = {}): string[] {
  const rt = runtimeDirs({ execPath: process.execPath, env: process.env, exists: fs.existsSync });
  return [...rt.dirs, extra.extensionDir ?? runnerPackageRoot(), ...(extra.toolDirs ?? [])];
}
