/**
 * Policy → plan. Validates input with the zod schema, canonicalizes every path, refuses over-broad roots, and hands
 * the resolved policy to the platform compiler through an exhaustive switch. Pure given its context: the only
 * disk access is through `ctx.fs`, which callers omit in tests and cross-platform previews.
 */
import { createHash } from 'node:crypto';
import { Minimatch } from 'minimatch';
import type * as z from 'zod';
import { PolicySchema, type Policy, type PolicyInput } from './schema';
import type { EnvPlan, Plan, Platform, ProtectedPath } from './plan';
import { assertNever, canonicalize, isWithin, normalizeAbsolute, pathApi, pathKey, refuseBroadRoot } from './paths';
import type { PathContext } from './paths';
import { SandboxError, SandboxErrorCode } from '../errors';
import { compileLinux } from './compile-linux';
import { compileWin32 } from './compile-win32';
import { gitSurface } from './git-surface';
import { editorFiles, finalProtectedSet } from './protected-set';
import { PROTECTED_REASONS, STRICT_PROTECTED_PATHS } from './schema';
import type { CompileContext, ResolvedPolicy } from './resolved';

export type { CompileContext, ResolvedPolicy } from './resolved';

/** Parses raw input into a Policy, turning zod issues into one SandboxError naming each field, value and fix. */
export function parsePolicy(input: unknown, source = 'policy'): Policy {
  const result = PolicySchema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new SandboxError(
    SandboxErrorCode.InvalidPolicy,
    `Invalid ${source}:\n${result.error.issues.map((i) => '  - ' + describeIssue(i, input)).join('\n')}`,
    'Correct the setting named above. Every setting is documented under "Agent Sandbox" in the Settings editor ' +
      'and in `agent-sandbox --help`.',
  );
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const field = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
  let value: unknown = input;
  for (const k of issue.path) value = value && typeof value === 'object' ? (value as never)[k as never] : undefined;
  const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  if (issue.code === 'invalid_value') {
    return `${field}${shown}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}.`;
  }
  if (issue.code === 'unrecognized_keys') {
    return (
      `${field}: unknown setting ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}. Remove it or check ` +
      'its spelling.'
    );
  }
  return `${field}${shown}: ${issue.message}`;
}

export function compilePlan(input: PolicyInput | Policy, ctx: CompileContext): Plan {
  const resolved = resolvePolicy(parsePolicy(input), ctx);
  switch (ctx.platform) {
    case 'linux':
      return compileLinux(resolved, ctx);
    case 'win32':
      return compileWin32(resolved, ctx);
    default:
      return assertNever(ctx.platform);
  }
}

export function resolvePolicy(policy: Policy, ctx: CompileContext): ResolvedPolicy {
  const pctx = { ...ctx, allowUnc: policy.allowUncPaths, systemDirs: envSystemDirs(ctx) };
  const workspaceRoots = dedupe(
    ctx.platform,
    policy.workspaceRoots.map((r, i) => checkedRoot(pctx, r, `workspaceRoots[${i}]`)),
  );
  const extra = policy.writableRoots.map((r, i) => checkedRoot(pctx, r, `writableRoots[${i}]`));
  const writableRoots = policy.mode === 'read-only' ? [] : dedupe(ctx.platform, [...workspaceRoots, ...extra]);
  // Linux keys the private temp by plan, network mode included: an online command's relay socket left in /tmp
  // must never be there for a later offline command.
  const tempKey =
    ctx.platform === 'linux' ? [...writableRoots, `mode:${policy.mode}`, `network:${policy.network}`] : [];
  const tempDir = sandboxTempDir(ctx, [...workspaceRoots, ...tempKey]);
  const { protectedPaths, unprotected } = protectedSet(pctx, policy, writableRoots);
  return {
    policy,
    platform: ctx.platform,
    workspaceRoots,
    writableRoots,
    protectedPaths,
    denyRead: [...new Set([...resolveDenyRead(pctx, ctx.env, policy.denyRead), ...sshAgentSockets(pctx)])],
    tempDir,
    env: compileEnv(ctx, policy, tempDir),
    unprotected,
  };
}

/**
 * The policy's globs (plus the strict preset), then what git executes from and the editor's workspace files
 * (both found on disk, so only when the planner has a filesystem view), with symbolic links repaired.
 */
function protectedSet(ctx: PathContext & { env: CompileContext['env'] }, policy: Policy, roots: string[]) {
  const globs = [...policy.protectedPaths, ...(policy.protectedPreset === 'strict' ? STRICT_PROTECTED_PATHS : [])];
  const workspaceFile = policy.workspaceFile ? canonicalize(ctx, policy.workspaceFile, 'workspaceFile') : undefined;
  const sctx = { platform: ctx.platform, roots, fs: ctx.fs, workspaceFile };
  const surface = ctx.fs
    ? gitSurface({ platform: ctx.platform, home: ctx.home, env: ctx.env, fs: ctx.fs, roots })
    : { protect: [], unprotected: [] };
  const protectedPaths = finalProtectedSet(sctx, [
    ...resolveProtected(ctx.platform, roots, [...new Set(globs)]),
    ...editorFiles(sctx),
    ...surface.protect,
  ]);
  return { protectedPaths, unprotected: surface.unprotected };
}

/** Windows system folders named by the environment, which may live on another drive than C:. */
function envSystemDirs(ctx: CompileContext): string[] {
  if (ctx.platform !== 'win32') return [];
  const names = ['SystemRoot', 'windir', 'ProgramFiles', 'ProgramFiles(x86)', 'ProgramW6432'];
  return names
    .map((n) => lookupEnv(ctx.env, n, true))
    .filter((v): v is string => !!v && /^[a-zA-Z]:\\/.test(v))
    .map((v) => normalizeAbsolute('win32', v, 'env'));
}

function checkedRoot(ctx: PathContext & { allowMissingRoots?: boolean }, raw: string, field: string): string {
  const root = canonicalize(ctx, raw, field);
  if (ctx.fs) {
    const kind = ctx.fs.kind(root);
    if (kind === 'missing' && ctx.allowMissingRoots) {
      refuseBroadRoot(ctx, root, field);
      return root;
    }
    if (kind === 'missing') {
      throw new SandboxError(
        SandboxErrorCode.RootMissing,
        `${field}: "${raw}" does not exist.`,
        'Create the folder, or remove it from the policy.',
      );
    }
    if (kind !== 'dir') {
      throw new SandboxError(SandboxErrorCode.RootRefused, `${field}: "${raw}" is not a folder.`, 'Name a folder.');
    }
  }
  refuseBroadRoot(ctx, root, field);
  return root;
}

function dedupe(platform: Platform, roots: string[]): string[] {
  const out: string[] = [];
  for (const r of roots) {
    if (!out.some((o) => pathKey(platform, o) === pathKey(platform, r))) out.push(r);
  }
  return out;
}

function resolveProtected(platform: Platform, roots: string[], globs: string[]): ProtectedPath[] {
  const api = pathApi(platform);
  const out: ProtectedPath[] = [];
  for (const root of roots) {
    for (const glob of globs) {
      const g = glob.replace(/\\/g, '/');
      const dir = g.endsWith('/**');
      const literal = dir ? g.slice(0, -3) : g;
      const reason = PROTECTED_REASONS[g];
      out.push({
        path: api.join(root, ...literal.split('/')),
        root,
        glob,
        kind: dir ? 'dir' : 'file-or-dir',
        ...(reason ? { reason } : {}),
      });
    }
  }
  return out;
}

/** Expands `~` and (on Windows) `%VAR%`; drops entries for the other platform or with unset variables. */
export function resolveDenyRead(
  ctx: PathContext,
  env: Record<string, string | undefined>,
  entries: string[],
): string[] {
  const api = pathApi(ctx.platform);
  const out: string[] = [];
  for (const entry of entries) {
    let p: string | undefined = entry;
    if (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) p = api.join(ctx.home, p.slice(1));
    if (/%[^%]+%/.test(p)) {
      if (ctx.platform !== 'win32') continue;
      p = p.replace(/%([^%]+)%/g, (_m, name: string) => lookupEnv(env, name, true) ?? '\0');
      if (p.includes('\0')) continue;
    }
    if (!api.isAbsolute(p)) continue;
    const c = canonicalize({ ...ctx, allowUnc: true }, p, 'denyRead');
    if (!out.some((o) => pathKey(ctx.platform, o) === pathKey(ctx.platform, c))) out.push(c);
  }
  return out;
}

/**
 * SSH agents named only in `~/.ssh/config` (`IdentityAgent`, a socket anywhere, such as 1Password's or a
 * forwarded one): hidden like the credential folders. Named pipes, `none` and `SSH_AUTH_SOCK` are skipped (the
 * environment's socket is hidden by the backend).
 */
function sshAgentSockets(ctx: PathContext): string[] {
  const api = pathApi(ctx.platform);
  const text = ctx.fs?.read?.(api.join(ctx.home, '.ssh', 'config')) ?? '';
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*IdentityAgent\s*=?\s*"?([^"\r\n]+?)"?\s*$/gim)) {
    let p = m[1];
    if (/^(none|SSH_AUTH_SOCK|\$SSH_AUTH_SOCK)$/i.test(p)) continue;
    if (p === '~' || p.startsWith('~/')) p = api.join(ctx.home, p.slice(1));
    try {
      if (api.isAbsolute(p)) out.push(canonicalize({ ...ctx, allowUnc: false }, p, 'IdentityAgent'));
    } catch {
      // a named pipe or device path: not a file the sandbox could open
    }
  }
  return out;
}

function lookupEnv(env: Record<string, string | undefined>, name: string, nocase: boolean): string | undefined {
  if (!nocase) return env[name];
  const key = Object.keys(env).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : env[key];
}

/** The sandbox's private temp: one per workspace set (and, on Linux, plan), under the state dir, never the user's temp. */
export function sandboxTempDir(ctx: CompileContext, keyParts: string[]): string {
  const api = pathApi(ctx.platform);
  const key = createHash('sha256')
    .update(
      keyParts
        .map((r) => pathKey(ctx.platform, r))
        .sort()
        .join('\n'),
    )
    .digest('hex')
    .slice(0, 16);
  return api.join(normalizeAbsolute(ctx.platform, ctx.stateDir, 'stateDir', true), 'tmp', key);
}

/** Characters that make a scrub pattern a glob for minimatch (anything else matches only itself). */
const GLOB_CHARS = /[*?[\]{}()!+@\\]/;
/** Stands in for `/` so that minimatch matches names without path semantics (`*` crosses it). */
const SLASH = '\uE000';
/** A value carrying a password in a URL: `scheme://user:password@host`. */
const URL_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:[^\s/@]+@/i;

/** Compiled globs, kept for the process's life: compiling the default scrub list costs milliseconds per plan. */
const GLOB_CACHE = new Map<string, Minimatch>();
function compiledGlob(g: string): Minimatch {
  let m = GLOB_CACHE.get(g);
  if (!m) GLOB_CACHE.set(g, (m = new Minimatch(g.replace(/\//g, SLASH), { nocase: true, dot: true })));
  return m;
}

/**
 * A case-insensitive name matcher for globs without path semantics. Names without glob characters are compared
 * directly; only real globs pay for a Minimatch, compiled once (matching every variable against freshly parsed
 * globs costs tens of ms per command).
 */
function nameMatcher(globs: string[]): (name: string) => boolean {
  const exact = new Set(globs.filter((g) => !GLOB_CHARS.test(g)).map((g) => g.toUpperCase()));
  const patterns = globs.filter((g) => GLOB_CHARS.test(g)).map(compiledGlob);
  return (name) => exact.has(name.toUpperCase()) || patterns.some((m) => m.match(name.replace(/\//g, SLASH)));
}

/**
 * Which variables to remove and set. Names matching a scrub glob go, and so does any variable whose value holds a
 * URL with a password; a name matching `allow` always stays.
 */
export function compileEnv(ctx: CompileContext, policy: Policy, tempDir: string): EnvPlan {
  const allowed = nameMatcher(policy.env.allow);
  const scrubbed = nameMatcher(policy.env.scrub);
  const remove = Object.keys(ctx.env)
    .filter((name) => !allowed(name))
    .filter((name) => scrubbed(name) || URL_PASSWORD.test(ctx.env[name] ?? ''))
    .sort();
  const tempInside = ctx.platform === 'linux' ? '/tmp' : tempDir;
  const set: Record<string, string> = { ...policy.env.set, TMPDIR: tempInside, TMP: tempInside, TEMP: tempInside };
  if (ctx.platform === 'win32') delete set.TMPDIR;
  set.AGENT_SANDBOX = '1';
  set.AGENT_SANDBOX_NETWORK = policy.network;
  return { remove, set };
}

/** True when `p` is covered by one of the plan's protected paths. */
export function isProtected(platform: Platform, prot: ProtectedPath[], p: string): boolean {
  return prot.some((pp) => isWithin(platform, pp.path, p));
}
