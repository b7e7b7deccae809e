/**
 * Path canonicalization for POSIX and Windows, and the refusal of roots that would open up too much.
 * Uses `path.posix` / `path.win32` explicitly so Windows cases run in Linux tests. Touches the filesystem only
 * through the optional `FsView` a caller passes in.
 */
import * as path from 'node:path';
import type { Platform } from './plan';
import { SandboxError, SandboxErrorCode } from '../errors';

/** What the planner may learn about the disk. Absent in pure tests and cross-platform previews. */
export interface FsView {
  /** Resolves symlinks/junctions; undefined when the path does not exist. */
  realpath(p: string): string | undefined;
  kind(p: string): 'dir' | 'file' | 'socket' | 'missing';
  /** The names in a folder (undefined when it cannot be listed). Without it, nothing is discovered by listing. */
  list?(dir: string): string[] | undefined;
  /** A small text file's content (at most 64 KiB), or undefined. Without it, no file is read (git configs). */
  read?(file: string): string | undefined;
}

export interface PathContext {
  platform: Platform;
  /** The user's home (Linux) or profile (Windows). */
  home: string;
  /** The user's own temp directory (refused as a root). */
  userTemp: string;
  /** Windows: accept UNC roots. */
  allowUnc?: boolean;
  /** System folders from the environment (%SystemRoot%, %ProgramFiles%, ...) refused in addition to the defaults. */
  systemDirs?: string[];
  fs?: FsView;
}

export function pathApi(platform: Platform): path.PlatformPath {
  switch (platform) {
    case 'linux':
      return path.posix;
    case 'win32':
      return path.win32;
    default:
      return assertNever(platform);
  }
}

export function assertNever(x: never): never {
  throw new SandboxError(
    SandboxErrorCode.UnsupportedPlatform,
    `Unsupported platform "${String(x)}".`,
    'Agent Sandbox supports Linux and Windows. Run it on one of those.',
  );
}

/** Strips Win32 namespace prefixes and rejects device paths. Returns the path and whether it is UNC. */
function stripWin32Prefix(p: string, field: string): { path: string; unc: boolean } {
  const s = p.replace(/\//g, '\\');
  if (/^\\\\[.?]\\/.test(s)) {
    const rest = s.slice(4);
    if (/^UNC\\/i.test(rest)) return { path: '\\\\' + rest.slice(4), unc: true };
    if (/^[a-zA-Z]:(\\|$)/.test(rest)) return { path: rest, unc: false };
    throw refused(field, p, 'it is a device path', 'Use a drive path such as C:\\Users\\you\\repo.');
  }
  if (s.startsWith('\\\\')) return { path: s, unc: true };
  if (/^[a-zA-Z]:(?!\\)/.test(s)) {
    throw refused(field, p, 'it is drive-relative', `Write it in full, like ${s[0].toUpperCase()}:\\${s.slice(2)}.`);
  }
  if (s.startsWith('\\')) {
    throw refused(field, p, 'it has no drive letter', 'Write it in full, like C:\\Users\\you\\repo.');
  }
  return { path: s, unc: false };
}

/**
 * Lexically canonical form of an absolute path: `..` and `.` resolved, separators normalized, and on Windows the
 * `\\?\` prefix removed, trailing dots and spaces dropped from each component (Win32 does the same), and the drive
 * letter upper-cased. Does not touch the disk.
 */
export function normalizeAbsolute(platform: Platform, p: string, field = 'path', allowUnc = false): string {
  switch (platform) {
    case 'linux': {
      if (!path.posix.isAbsolute(p)) {
        throw refused(field, p, 'it is not absolute', 'Give an absolute path, like /home/you/repo.');
      }
      const n = path.posix.normalize(p);
      return n.length > 1 ? n.replace(/\/+$/, '') : n;
    }
    case 'win32': {
      const { path: stripped, unc } = stripWin32Prefix(p, field);
      if (unc && !allowUnc) {
        throw refused(
          field,
          p,
          'it is a network (UNC) path',
          'Map the share to a drive letter, or set agentSandbox.allowUncPaths to true if you trust the share.',
        );
      }
      if (!path.win32.isAbsolute(stripped)) {
        throw refused(field, p, 'it is not absolute', 'Give an absolute path, like C:\\Users\\you\\repo.');
      }
      const parts = path.win32.normalize(stripped).split('\\');
      const cleaned = parts.map((c, i) => (i === 0 || c === '.' || c === '..' ? c : c.replace(/[. ]+$/, '')));
      let n = path.win32.normalize(cleaned.join('\\'));
      if (/^[a-z]:/.test(n)) n = n[0].toUpperCase() + n.slice(1);
      const root = path.win32.parse(n).root;
      return n.length > root.length ? n.replace(/\\+$/, '') : n;
    }
    default:
      return assertNever(platform);
  }
}

/** A comparison key: Windows paths compare case-insensitively. */
export function pathKey(platform: Platform, p: string): string {
  return platform === 'win32' ? p.toLowerCase() : p;
}

/** True when `child` equals `parent` or lies below it. Both must be canonical. */
export function isWithin(platform: Platform, parent: string, child: string): boolean {
  const api = pathApi(platform);
  const rel = api.relative(pathKey(platform, parent), pathKey(platform, child));
  return rel === '' || (!rel.startsWith('..') && !api.isAbsolute(rel));
}

/** Canonicalizes a path and resolves symlinks when a filesystem view is available. */
export function canonicalize(ctx: PathContext, p: string, field: string): string {
  const lexical = normalizeAbsolute(ctx.platform, p, field, ctx.allowUnc);
  if (!ctx.fs) return lexical;
  const real = ctx.fs.realpath(lexical);
  return real === undefined ? lexical : normalizeAbsolute(ctx.platform, real, field, ctx.allowUnc);
}

/** Directories that are never acceptable as writable roots, nor anything inside them. */
function systemTrees(platform: Platform): string[] {
  switch (platform) {
    case 'linux':
      return [
        '/bin',
        '/boot',
        '/dev',
        '/etc',
        '/lib',
        '/lib32',
        '/lib64',
        '/libx32',
        '/proc',
        '/run',
        '/sbin',
        '/sys',
        '/usr',
      ];
    case 'win32':
      return ['C:\\Windows', 'C:\\Program Files', 'C:\\Program Files (x86)', 'C:\\ProgramData\\Microsoft'];
    default:
      return assertNever(platform);
  }
}

/** Directories refused as roots themselves, though folders inside them are fine. */
function broadDirs(platform: Platform): string[] {
  switch (platform) {
    case 'linux':
      return ['/home', '/var', '/opt', '/srv', '/mnt', '/media', '/tmp', '/var/tmp', '/root', '/snap'];
    case 'win32':
      return ['C:\\Users', 'C:\\ProgramData', 'C:\\Users\\Public'];
    default:
      return assertNever(platform);
  }
}

/**
 * Why a canonical root would open up too much, or undefined when it may be granted: a filesystem or drive root, the
 * home/profile or anything containing it, a system directory, the user's temp or anything containing it, a folder
 * holding other users' or programs' files. The one list of over-broad roots: writable roots are refused with it
 * (`refuseBroadRoot`), and elevated setup skips a grant it names.
 */
export function broadRootReason(
  ctx: Pick<PathContext, 'platform' | 'home' | 'userTemp' | 'systemDirs'>,
  root: string,
): string | undefined {
  const api = pathApi(ctx.platform);
  const parsed = api.parse(root);
  if (parsed.root === root || (ctx.platform === 'win32' && /^\\\\[^\\]+\\[^\\]+\\?$/.test(root))) {
    return 'it is the root of a drive or filesystem';
  }
  const home = normalizeAbsolute(ctx.platform, ctx.home, 'home', true);
  if (isWithin(ctx.platform, root, home)) return `it contains your home folder (${home})`;
  const temp = normalizeAbsolute(ctx.platform, ctx.userTemp, 'temp', true);
  if (isWithin(ctx.platform, root, temp)) return `it contains your temp folder (${temp}), which other programs share`;
  for (const sys of [...systemTrees(ctx.platform), ...(ctx.systemDirs ?? [])]) {
    if (isWithin(ctx.platform, sys, root) || isWithin(ctx.platform, root, sys))
      return `it is or contains the system folder ${sys}`;
  }
  for (const dir of broadDirs(ctx.platform)) {
    if (pathKey(ctx.platform, dir) === pathKey(ctx.platform, root))
      return `${dir} holds other users' or programs' files`;
  }
  if (ctx.platform === 'win32' && /^[A-Z]:\\Windows(\\|$)/i.test(root)) return 'it is inside the Windows folder';
  return undefined;
}

/** Throws SandboxError(root-refused) when `broadRootReason` refuses the root. */
export function refuseBroadRoot(ctx: PathContext, root: string, field: string): void {
  const why = broadRootReason(ctx, root);
  if (why) throw refused(field, root, why, NARROW);
}

const NARROW = 'Choose the project folder itself, for example the folder you opened in VS Code.';

function refused(field: string, value: string, why: string, fix: string): SandboxError {
  return new SandboxError(SandboxErrorCode.RootRefused, `${field}: "${value}" is refused because ${why}.`, fix);
}
