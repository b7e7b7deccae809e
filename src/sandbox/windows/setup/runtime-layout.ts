/**
 * Where the elevated runner runs from: a copy of the runner bundle, koffi and (when it lives in the developer's
 * profile) the runtime, in `%ProgramData%\AgentSandbox\runtime\<hash>`. The sandbox accounts cannot lstat the
 * ancestors of `C:\Users\<dev>`, and Node's realpath lstats every component of the main script and of each
 * require, so a runner started from the extension's folder dies before it connects (review §3.4).
 * Pure over the reader given: what is copied where, and the folder's name, a hash of what is copied, so a new
 * extension or runtime version gets a new folder and the backend finds the folder without reading any record.
 * Must never place anything outside the runtime root.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';

/** The bundle files the elevated runner needs: the dispatcher and the Windows runner it requires. */
export const RUNNER_FILES = ['runner.js', 'runner-win32.js'] as const;
/**
 * Verify's probe (self-contained: no native module), copied beside the runner: in elevated mode it runs as the
 * sandbox account, which meets the same ancestor `lstat` problem from the extension's folder (review §3.4).
 */
export const PROBE_FILE = 'probe.js';
/** Written last into a finished copy; its presence (with the right hash) is what "complete" means. */
export const RUNTIME_MANIFEST = 'agent-sandbox-runtime.json';

export interface RuntimeSource {
  /** The runtime running us (VS Code's Code.exe with ELECTRON_RUN_AS_NODE, or node.exe). */
  execPath: string;
  /** The folder holding RUNNER_FILES (the build's dist/). */
  bundleDir: string;
  /** Packages the runner requires at run time (koffi and its prebuild), by package name and folder. */
  packages: { name: string; dir: string }[];
  /** The developer's profile: a runtime inside it is copied too. */
  home: string;
  programData: string;
}

export interface SourceReader {
  /** Files under a folder, relative, recursively. */
  files(dir: string): string[];
  /** sha256 of a file's content, hex. */
  digest(file: string): string;
  /** Size and modification time of a file, as text. */
  stamp(file: string): string;
}

export interface RuntimeCopy {
  /** A file, or a folder copied whole. */
  from: string;
  /** Relative to the runtime folder. */
  to: string;
}

export interface RuntimeLayout {
  /** `%ProgramData%\AgentSandbox`: created by setup with a protected DACL that every copy inherits. */
  root: string;
  /** `<root>\runtime\<hash>`. */
  dir: string;
  hash: string;
  copies: RuntimeCopy[];
  /** The runtime the copy is for (its executable's path, lower case): copies for other runtimes are kept. */
  runtimeOf: string;
  /** Whether the runtime itself is copied (it lives in the profile). */
  runtimeCopied: boolean;
  /** What the logon starts: the runtime, the runner script, and the runner's working folder. */
  application: string;
  script: string;
  cwd: string;
  /** Verify's probe in the copy. */
  probe: string;
}

const w = path.win32;
const under = (p: string, dir: string) => {
  const a = w.normalize(p).toLowerCase();
  const b = w.normalize(dir).replace(/\\+$/, '').toLowerCase();
  return a.startsWith(b + '\\');
};

/** The runtime copy: node.exe alone is self-contained; any other runtime (Electron) needs its whole folder. */
function runtimeCopy(execPath: string): RuntimeCopy {
  return w.basename(execPath).toLowerCase() === 'node.exe'
    ? { from: execPath, to: 'runtime\\node.exe' }
    : { from: w.dirname(execPath), to: 'runtime' };
}

export function runtimeRoot(programData: string): string {
  if (!w.isAbsolute(programData) || programData.startsWith('\\\\'))
    throw new Error(`%ProgramData% is not a local absolute path: "${programData}"`);
  return w.join(programData, 'AgentSandbox');
}

export function runtimeLayout(src: RuntimeSource, read: SourceReader): RuntimeLayout {
  const root = runtimeRoot(src.programData);
  const copies: RuntimeCopy[] = [
    ...[...RUNNER_FILES, PROBE_FILE].map((f) => ({ from: w.join(src.bundleDir, f), to: `runner\\${f}` })),
    // runner\node_modules\… : Node resolves require('koffi') from the script's folder upwards.
    ...src.packages.map((p) => ({ from: p.dir, to: w.join('runner', 'node_modules', ...p.name.split('/')) })),
  ];
  const hash = createHash('sha256');
  for (const c of copies) {
    const files = c.to.startsWith('runner\\node_modules') ? read.files(c.from).sort() : [''];
    for (const f of files) hash.update(`${w.join(c.to, f)}\0${read.digest(f ? w.join(c.from, f) : c.from)}\0`);
  }
  const runtimeCopied = under(src.execPath, src.home);
  if (runtimeCopied) {
    const rt = runtimeCopy(src.execPath);
    copies.push(rt);
    // A runtime folder is hundreds of megabytes: it is known by its executable's size and time (an update
    // replaces the executable), not by hashing all of it on every runner start.
    hash.update(`${rt.to}\0${w.basename(src.execPath).toLowerCase()}\0${read.stamp(src.execPath)}\0`);
  }
  const h = hash.digest('hex').slice(0, 16);
  const dir = w.join(root, 'runtime', h);
  const application = runtimeCopied ? w.join(dir, 'runtime', w.basename(src.execPath)) : src.execPath;
  return {
    root,
    dir,
    hash: h,
    copies,
    runtimeOf: w.normalize(src.execPath).toLowerCase(),
    runtimeCopied,
    application,
    script: w.join(dir, 'runner', 'runner.js'),
    cwd: w.join(dir, 'runner'),
    probe: w.join(dir, 'runner', PROBE_FILE),
  };
}

/**
 * The DACL of the runtime root, inherited by every copy, protected from ProgramData's (which lets Users create
 * folders): Administrators and SYSTEM full; the sandbox group read and run; builtin Users read and run too, because
 * the developer's unelevated process checks the copy before starting a runner (nothing in it is secret; only
 * writing it matters).
 */
export function runtimeRootSddl(groupSid: string): string {
  return `D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;${groupSid})(A;OICI;0x1200a9;;;BU)`;
}

/** A copy setup made, as recorded: its folder and the runtime it is for. */
export interface RuntimeRecord {
  dir: string;
  runtimeOf: string;
}

/** Owners a pre-existing runtime root may have: anyone else could have planted files the runner would load. */
export const TRUSTED_OWNERS = ['S-1-5-32-544', 'S-1-5-18'];

/**
 * A runtime folder setup recorded, if it really is one of ours: `<root>\runtime\<16 hex>`, nothing else, where
 * `root` comes from %ProgramData% (never from the path checked). Only the spelling setup writes passes: no `.` or
 * `..` segments, short (8.3, `~`) names, device, UNC or stream syntax, or trailing dots and spaces (which Windows
 * drops); letter case is Windows', so it does not matter.
 */
export function isRuntimeCopyDir(dir: string, root: string): boolean {
  if (!/^[a-z]:[\\/]/i.test(dir) || /[~:*?"<>|]/.test(dir.slice(2))) return false;
  if (dir.split(/[\\/]/).some((s, i) => i > 0 && (s === '.' || s === '..' || /[. ]$/.test(s)))) return false;
  return /^runtime\\[0-9a-f]{16}$/i.test(w.relative(root, dir));
}
