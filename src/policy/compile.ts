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
import type { FsView, PathContext } from './paths';
import { SandboxError, SandboxErrorCode } from '../sandbox/errors';
import { compileLinux } from './compile-linux';
import { compileWin32, type Win32Context } from './compile-win32';

export interface CompileContext extends Win32Context {
  platform: Platform;
  home: string;
  userTemp: string;
  /** The caller's environment: scrubbed into the plan's env, and used to expand `%VAR%` in denyRead. */
  env: Record<string, string | undefined>;
  /** Where the sandbox keeps its state (private temp, ledger). Extension storage, or the CLI's state dir. */
  stateDir: string;
  fs?: FsView;
  /** Linux: paths of the host's listening Unix sockets (from /proc/net/unix), hidden unless inside a root. */
  listeningSockets?: string[];
  /** Previews only (`agent-sandbox plan`): a missing root becomes a warning instead of an error. */
  allowMissingRoots?: boolean;
}

/** A policy with every path canonical and every root checked. Input to the platform compilers. */
export interface ResolvedPolicy {
  policy: Policy;
  platform: Platform;
  workspaceRoots: string[];
  writableRoots: string[];
  protectedPaths: ProtectedPath[];
  denyRead: string[];
  tempDir: string;
  env: EnvPlan;
}

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
    return `${field}: unknown setting ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}. Remove it or check ` +
      'its spelling.';
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
  const workspaceRoots = dedupe(ctx.platform, policy.workspaceRoots.map((r, i) => checkedRoot(pctx, r, `workspaceRoots[${i}]`)));
  const extra = policy.writableRoots.map((r, i) => checkedRoot(pctx, r, `writableRoots[${i}]`));
  const writableRoots = policy.mode === 'read-only' ? [] : dedupe(ctx.platform, [...workspaceRoots, ...extra]);
  // Linux keys the private temp by plan, network mode included: an online command's relay socket left in /tmp
  // must never be there for a later offline command.
  const tempKey = ctx.platform === 'linux' ? [...writableRoots, `mode:${policy.mode}`, `network:${policy.network}`] : [];
  const tempDir = sandboxTempDir(ctx, [...workspaceRoots, ...tempKey]);
  return {
    policy,
    platform: ctx.platform,
    workspaceRoots,
    writableRoots,
    protectedPaths: resolveProtected(ctx.platform, writableRoots, policy.protectedPaths),
    denyRead: resolveDenyRead(pctx, ctx.env, policy.denyRead),
    tempDir,
    env: compileEnv(ctx, policy, tempDir),
  };
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
      out.push({ path: api.join(root, ...literal.split('/')), root, glob, kind: dir ? 'dir' : 'file-or-dir' });
    }
  }
  return out;
}

/** Expands `~` and (on Windows) `%VAR%`; drops entries for the other platform or with unset variables. */
export function resolveDenyRead(ctx: PathContext, env: Record<string, string | undefined>, entries: string[]): string[] {
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

function lookupEnv(env: Record<string, string | undefined>, name: string, nocase: boolean): string | undefined {
  if (!nocase) return env[name];
  const key = Object.keys(env).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : env[key];
}

/** The sandbox's private temp: one per workspace set (and, on Linux, plan), under the state dir, never the user's temp. */
export function sandboxTempDir(ctx: CompileContext, keyParts: string[]): string {
  const api = pathApi(ctx.platform);
  const key = createHash('sha256')
    .update(keyParts.map((r) => pathKey(ctx.platform, r)).sort().join('\n'))
    .digest('hex')
    .slice(0, 16);
  return api.join(normalizeAbsolute(ctx.platform, ctx.stateDir, 'stateDir', true), 'tmp', key);
}

/** Characters that make a scrub pattern a glob for minimatch (anything else matches only itself). */
const GLOB_CHARS = /[*?[\]{}()!+@\\]/;

/** Which variables to remove and set. Names match scrub globs case-insensitively; `allow` names are kept. */
export function compileEnv(ctx: CompileContext, policy: Policy, tempDir: string): EnvPlan {
  const allow = new Set(policy.env.allow.map((n) => n.toUpperCase()));
  // Names without glob characters are compared directly; only real globs pay for a Minimatch, compiled once
  // (matching every variable against freshly parsed globs costs tens of ms per command).
  const exact = new Set(policy.env.scrub.filter((g) => !GLOB_CHARS.test(g)).map((g) => g.toUpperCase()));
  const scrub = policy.env.scrub.filter((g) => GLOB_CHARS.test(g)).map((g) => new Minimatch(g, { nocase: true, dot: true }));
  const remove = Object.keys(ctx.env)
    .filter((name) => !allow.has(name.toUpperCase()))
    .filter((name) => exact.has(name.toUpperCase()) || scrub.some((m) => m.match(name)))
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
