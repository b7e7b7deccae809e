/**
 * Turns a sandboxed command's error output into explanations a person or a model can act on: which path was
 * blocked and why (outside the workspace, protected, hidden credentials), or that the network is off.
 * Pure (no `vscode` import). Must never claim a denial the output does not show.
 */
import * as path from 'node:path';

/** The parts of a plan the explanations need (paths are absolute, in the platform's own form). */
export interface DenialContext {
  platform: 'linux' | 'win32';
  mode: string;
  network: 'offline' | 'allowlist' | 'online';
  writableRoots: string[];
  protectedPaths: { path: string; glob: string }[];
  denyRead: string[];
  tempDir: string;
}

const WRITE_DENIED =
  /read-only file system|permission denied|operation not permitted|access is denied|EROFS|EACCES|EPERM/i;
const NETWORK_DENIED = new RegExp(
  [
    'could not resolve host',
    'temporary failure in name resolution',
    'name or service not known',
    'getaddrinfo',
    'EAI_AGAIN',
    'ENOTFOUND',
    'network is unreachable',
    'ENETUNREACH',
    'address family not supported',
    'EAFNOSUPPORT',
    'failed to establish a new connection',
    'connection refused',
    'ECONNREFUSED',
  ].join('|'),
  'i',
);
const QUOTED_PATH = /(?:^|[\s'"`‘“(:])((?:\/|[A-Za-z]:\\)[^\s'"`’”():]*)/g;
/** `PROGRAM: message`: the program's own path (`/bin/sh: 1: cannot create x: ...`) is not what was blocked. */
const LEADING_PROGRAM = /^\s*(?:\/|[A-Za-z]:\\)[^\s:]*:(?=\s)/;

function within(p: string, root: string, api: path.PlatformPath): boolean {
  const rel = api.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !api.isAbsolute(rel));
}

function explainPath(p: string, ctx: DenialContext): string | undefined {
  const api = ctx.platform === 'win32' ? path.win32 : path.posix;
  const prot = ctx.protectedPaths.find((x) => within(p, x.path, api));
  if (prot) {
    return (
      `Write to ${p} was blocked: it is a protected path (${prot.glob}, setting agentSandbox.protectedPaths) ` +
      'that stays read-only even inside the workspace, because changing it could run code outside the sandbox. ' +
      'Do not retry; ask the user to make this change themselves.'
    );
  }
  const hidden = ctx.denyRead.find((d) => within(p, d, api));
  if (hidden) {
    return (
      `${p} is hidden from the sandbox (credentials, setting agentSandbox.denyRead). Do not retry; work ` +
      'without these credentials or ask the user to run this step.'
    );
  }
  if (ctx.writableRoots.some((r) => within(p, r, api)) || within(p, ctx.tempDir, api)) return undefined;
  const where = ctx.writableRoots.length ? ctx.writableRoots.join(', ') : '(nothing: the sandbox is read-only)';
  return (
    `Write to ${p} was blocked: the sandbox (mode ${ctx.mode}) may write only inside ${where} and its ` +
    `private temp folder ${ctx.tempDir}. Write inside the workspace or use $TMPDIR instead; if the folder really ` +
    'must be writable, ask the user to add it to the setting agentSandbox.extraWritableRoots.'
  );
}

/** One explanation per distinct cause found in `output`; empty when nothing looks like a sandbox denial. */
export function explainDenials(output: string, ctx: DenialContext): string[] {
  const found = new Set<string>();
  let generalWrite = false;
  for (const line of output.split(/\r?\n/)) {
    if (WRITE_DENIED.test(line)) {
      const paths = [...line.replace(LEADING_PROGRAM, '').matchAll(QUOTED_PATH)].map((m) =>
        m[1].replace(/[.,;]+$/, ''),
      );
      const reasons = paths.map((p) => explainPath(p, ctx)).filter((r): r is string => r !== undefined);
      reasons.forEach((r) => found.add(r));
      if (!paths.length && /read-only file system|EROFS/i.test(line)) generalWrite = true;
    }
    if (ctx.network === 'offline' && NETWORK_DENIED.test(line)) {
      found.add(
        'The network is blocked: this sandbox runs offline (setting agentSandbox.network). Do not retry ' +
          'the same command; work offline (cached or vendored dependencies, --offline flags), or rerun the tool with ' +
          'network "online", which asks the user to confirm.',
      );
    }
  }
  if (generalWrite && found.size === 0) {
    found.add(
      `A write was blocked by the sandbox (read-only file system). Only ${
        ctx.writableRoots.join(', ') || 'the private temp folder'
      } and ${ctx.tempDir} are writable.`,
    );
  }
  return [...found];
}
