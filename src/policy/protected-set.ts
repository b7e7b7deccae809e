/**
 * The final set of protected paths both platforms enforce: the policy's globs, what git executes from (see
 * `git-surface`), the editor's workspace files, and the repair of symbolic links. Pure: disk facts only through
 * `FsView`. Must never half-protect a link: a protected path reached through a symbolic link inside a root gets the
 * link's folder and the link's target protected, or the plan is refused naming the link.
 */
import type { Platform, ProtectedPath } from './plan';
import { isWithin, normalizeAbsolute, pathApi, pathKey, type FsView } from './paths';
import { SandboxError, SandboxErrorCode } from '../errors';

export interface ProtectedSetContext {
  platform: Platform;
  roots: string[];
  fs?: FsView;
  /** The open `.code-workspace` file, if any (canonical). */
  workspaceFile?: string;
}

const EDITOR_REASON =
  'a VS Code workspace file: its settings, tasks (runOn: folderOpen) and terminal profiles run on the host';

/** Every top-level `*.code-workspace` in each root, and the open workspace file when it lies in a root. */
export function editorFiles(ctx: ProtectedSetContext): ProtectedPath[] {
  const api = pathApi(ctx.platform);
  const out: ProtectedPath[] = [];
  const add = (root: string, p: string) => {
    if (!out.some((o) => pathKey(ctx.platform, o.path) === pathKey(ctx.platform, p))) {
      out.push({
        path: p,
        root,
        glob: api.relative(root, p).replace(/\\/g, '/'),
        kind: 'file-or-dir',
        reason: EDITOR_REASON,
      });
    }
  };
  for (const root of ctx.roots) {
    for (const name of ctx.fs?.list?.(root) ?? []) {
      if (/\.code-workspace$/i.test(name)) add(root, api.join(root, name));
    }
  }
  const wf = ctx.workspaceFile;
  const root = wf && ctx.roots.find((r) => isWithin(ctx.platform, r, wf));
  if (wf && root) add(root, wf);
  return out;
}

/**
 * Symbolic links repaired, then duplicates and paths already covered by a protected folder (or by a protected
 * file standing where a folder would be, like a worktree's `.git` file) dropped. The first entry for a path wins,
 * taking a later entry's reason when it has none.
 */
export function finalProtectedSet(ctx: ProtectedSetContext, list: ProtectedPath[]): ProtectedPath[] {
  const all = ctx.fs ? list.flatMap((pp) => secureLinks(ctx, pp)) : list;
  const key = (p: string) => pathKey(ctx.platform, p);
  const byPath = new Map<string, ProtectedPath>();
  for (const pp of all) {
    const had = byPath.get(key(pp.path));
    if (!had) byPath.set(key(pp.path), { ...pp });
    else if (!had.reason && pp.reason) Object.assign(had, { reason: pp.reason, content: had.content ?? pp.content });
    else if (had.kind !== 'dir' && pp.kind === 'dir') had.kind = 'dir';
  }
  const entries = [...byPath.values()];
  const covers = (outer: ProtectedPath, inner: ProtectedPath) =>
    outer !== inner &&
    key(outer.path) !== key(inner.path) &&
    isWithin(ctx.platform, outer.path, inner.path) &&
    (outer.kind === 'dir' || ctx.fs?.kind(outer.path) === 'file');
  return entries.filter((pp) => !entries.some((o) => covers(o, pp)));
}

function secureLinks(ctx: ProtectedSetContext, pp: ProtectedPath): ProtectedPath[] {
  const api = pathApi(ctx.platform);
  const fs = ctx.fs!;
  const real = (p: string) => {
    const r = fs.realpath(p);
    return r === undefined ? undefined : normalizeAbsolute(ctx.platform, r, 'path', true);
  };
  const isLink = (p: string) => {
    const r = real(p);
    return r !== undefined && pathKey(ctx.platform, r) !== pathKey(ctx.platform, p);
  };
  const rootOf = (p: string) => ctx.roots.find((r) => isWithin(ctx.platform, r, p));
  const entry = (p: string, kind: ProtectedPath['kind'], reason: string): ProtectedPath | undefined => {
    const root = rootOf(p);
    return root
      ? { path: p, root, glob: api.relative(root, p).replace(/\\/g, '/') + (kind === 'dir' ? '/**' : ''), kind, reason }
      : undefined;
  };
  const rel = pp.path.slice(pp.root.length).split(/[\\/]/).filter(Boolean);
  const chain = rel.map((_, i) => api.join(pp.root, ...rel.slice(0, i + 1)));
  const link = chain.find(isLink);
  if (!link) return [pp, ...linksInside(ctx, pp, real, isLink, entry)];
  const parent = api.dirname(link);
  if (pathKey(ctx.platform, parent) === pathKey(ctx.platform, pp.root)) {
    throw new SandboxError(
      SandboxErrorCode.InvalidPolicy,
      `The protected path ${pp.path} (${pp.glob}) goes through the symbolic link ${link}, which sits directly in the ` +
        `writable folder ${pp.root}: the sandbox could replace the link, so nothing was run.`,
      `Replace ${link} with the real folder or file it points to, or remove "${pp.glob}" from agentSandbox.protectedPaths.`,
    );
  }
  const out: ProtectedPath[] = [];
  const p = entry(
    parent,
    'dir',
    `holds the symbolic link ${link} (on the way to ${pp.glob}): read-only so the link cannot be replaced`,
  );
  if (p) out.push(p);
  const target = real(pp.path);
  const t =
    target &&
    entry(
      target,
      pp.kind === 'dir' || fs.kind(target) === 'dir' ? 'dir' : 'file-or-dir',
      `the target of ${pp.glob}, reached through the symbolic link ${link}`,
    );
  if (t) out.push(t);
  return out;
}

/** Links directly inside a protected folder (a hook linking to a workspace script): their targets in a root. */
function linksInside(
  ctx: ProtectedSetContext,
  pp: ProtectedPath,
  real: (p: string) => string | undefined,
  isLink: (p: string) => boolean,
  entry: (p: string, k: ProtectedPath['kind'], r: string) => ProtectedPath | undefined,
): ProtectedPath[] {
  if (pp.kind !== 'dir' || ctx.fs!.kind(pp.path) !== 'dir') return [];
  const api = pathApi(ctx.platform);
  const out: ProtectedPath[] = [];
  for (const name of (ctx.fs!.list?.(pp.path) ?? []).slice(0, 500)) {
    const c = api.join(pp.path, name);
    const t = isLink(c) ? real(c) : undefined;
    if (!t || isWithin(ctx.platform, pp.path, t)) continue;
    const e = entry(
      t,
      ctx.fs!.kind(t) === 'dir' ? 'dir' : 'file-or-dir',
      `the target of ${c}, a symbolic link in the protected ${pp.glob}`,
    );
    if (e) out.push(e);
  }
  return out;
}
