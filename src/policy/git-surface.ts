/**
 * Everything git executes from inside the writable roots, found at plan time: each repository's real gitdir
 * (following `.git` files: `--separate-git-dir`, `.bare` + worktrees, submodules), the config files it reads
 * (repository, user global and system, with every `include.path` / `includeIf.*.path`), `core.hooksPath`, and the
 * configs of hook managers whose protected hook runs a workspace file. Pure: the disk is read only through `FsView`.
 * Must never make a gitdir entry writable that is not on `GITDIR_WRITABLE`, and never create an in-progress
 * marker (`rebase-merge`, `sequencer`): an empty one tells the host's git an operation is under way.
 */
import type * as path from 'node:path';
import type { Platform, ProtectedPath } from './plan';
import { isWithin, normalizeAbsolute, pathApi, type FsView } from './paths';
import { isIncludePath, parseGitConfig } from './git-config';

export interface SurfaceContext {
  platform: Platform;
  home: string;
  env: Record<string, string | undefined>;
  fs: FsView;
  /** Canonical writable roots. */
  roots: string[];
}

export interface GitSurface {
  protect: ProtectedPath[];
  /** Workspace files that run on the host but stay writable, each with the setting that protects it. */
  unprotected: string[];
}

/**
 * The top-level names inside a gitdir that committing, fetching and branching write, each with its reason.
 * Every other entry that exists is read-only, so a git feature we did not think of stays closed.
 */
export const GITDIR_WRITABLE: Readonly<Record<string, string>> = {
  objects: 'commit, fetch and gc write new objects',
  refs: 'branches and tags',
  logs: 'reflogs of HEAD and branches',
  index: 'the staging area (add, commit, checkout)',
  HEAD: 'the current branch (checkout, switch)',
  'packed-refs': 'refs packed by gc and fetch',
  FETCH_HEAD: 'written by fetch and pull',
  ORIG_HEAD: 'written by reset, merge and pull',
  COMMIT_EDITMSG: 'the last commit message',
  TAG_EDITMSG: 'the last tag message',
  MERGE_HEAD: 'a merge in progress (data, not commands)',
  MERGE_MSG: 'the prepared merge message',
  MERGE_MODE: 'merge options (data)',
  MERGE_RR: 'rerere bookkeeping',
  AUTO_MERGE: 'the tree of a conflicted merge',
  SQUASH_MSG: 'the prepared squash message',
  CHERRY_PICK_HEAD: 'a single cherry-pick in progress (data, not commands)',
  REVERT_HEAD: 'a single revert in progress (data, not commands)',
  REBASE_HEAD: 'the commit a rebase stopped at (data)',
  shallow: 'shallow fetches',
  info: 'exclude and attributes: no more power than .gitignore and .gitattributes in the worktree',
  lfs: 'Git LFS objects',
  'rr-cache': 'rerere resolutions (data)',
  'gc.pid': 'automatic gc after a commit',
  'gc.log': 'automatic gc after a commit',
  description: 'a line of text for gitweb',
  'gitk.cache': 'gitk cache',
};
/** Lock files (renamed onto a name this list decides) and split-index files. */
const WRITABLE_NAME = /(\.lock$)|(^sharedindex\.[0-9a-f]+$)/;

type Rule = { name: string; kind: 'dir' | 'file-or-dir'; reason: string; content?: string };
/** Protected in every gitdir, with an empty placeholder when missing (an empty one of these changes nothing). */
const GITDIR_ALWAYS: Rule[] = [
  {
    name: 'config',
    kind: 'file-or-dir',
    reason: 'git runs core.fsmonitor, core.sshCommand, core.pager, aliases and filters from it',
  },
  {
    name: 'config.worktree',
    kind: 'file-or-dir',
    reason: 'per-worktree config (extensions.worktreeConfig): as powerful as config',
  },
  { name: 'hooks', kind: 'dir', reason: 'hooks run on commit, merge, checkout and push' },
  {
    name: 'commondir',
    kind: 'file-or-dir',
    reason: 'names the folder whose config and hooks git uses',
    content: '.\n',
  },
  { name: 'modules', kind: 'dir', reason: "submodules' gitdirs, each with its own config and hooks" },
  { name: 'worktrees', kind: 'dir', reason: "linked worktrees' gitdirs (their commondir and config.worktree)" },
  { name: 'remotes', kind: 'dir', reason: 'legacy remote definitions: the URLs git fetches from and pushes to' },
  { name: 'branches', kind: 'dir', reason: 'legacy remote definitions: the URLs git fetches from' },
];
/** Protected when present and never created: an empty one would tell git a rebase or cherry-pick is under way. */
const GITDIR_IF_PRESENT: Rule[] = [
  { name: 'rebase-merge', kind: 'dir', reason: 'a rebase todo list: its exec lines run on `git rebase --continue`' },
  { name: 'rebase-apply', kind: 'dir', reason: 'am/rebase state replayed on `--continue`' },
  { name: 'sequencer', kind: 'dir', reason: 'cherry-pick/revert todo and options replayed on `--continue`' },
];

/** Hook names whose scripts are read to recognise a hook manager (bounded: never the whole folder). */
const HOOK_NAMES = [
  'pre-commit',
  'pre-push',
  'commit-msg',
  'prepare-commit-msg',
  'post-checkout',
  'post-merge',
  'post-commit',
  'post-rewrite',
  'pre-rebase',
  'pre-merge-commit',
];

/** The hook-manager configs of each manager, relative to the worktree; `dir` ones are protected with `/**`. */
const MANAGERS: { name: string; marker: RegExp; files: string[]; missingToo?: string[]; dirs?: string[] }[] = [
  {
    name: 'pre-commit',
    marker: /File generated by pre-commit|pre_commit|hook-impl/,
    files: ['.pre-commit-config.yaml'],
    missingToo: ['.pre-commit-config.yaml'],
  },
  {
    name: 'lefthook',
    marker: /lefthook/i,
    files: [
      'lefthook.yml',
      '.lefthook.yml',
      'lefthook.yaml',
      '.lefthook.yaml',
      'lefthook.json',
      'lefthook.toml',
      'lefthook-local.yml',
      '.lefthook-local.yml',
    ],
    missingToo: ['lefthook-local.yml'],
    dirs: ['.lefthook', '.lefthook-local'],
  },
  {
    name: 'lint-staged',
    marker: /lint-staged/,
    files: [
      '.lintstagedrc',
      '.lintstagedrc.json',
      '.lintstagedrc.yaml',
      '.lintstagedrc.yml',
      '.lintstagedrc.js',
      '.lintstagedrc.mjs',
      '.lintstagedrc.cjs',
      'lint-staged.config.js',
      'lint-staged.config.mjs',
      'lint-staged.config.cjs',
    ],
  },
];

export function gitSurface(ctx: SurfaceContext): GitSurface {
  const s = new Surveyor(ctx);
  for (const root of ctx.roots) {
    s.worktree(root, root);
    // A root inside a repository (a subfolder opened on its own): that repository's configs may point into it.
    const api = pathApi(ctx.platform);
    // (An empty `.git`, such as an earlier run's placeholder, is no repository: git looks further up, and so do we.)
    const own = ctx.fs.kind(api.join(root, '.git'));
    if (own === 'file' || (own === 'dir' && ctx.fs.kind(api.join(root, '.git', 'HEAD')) !== 'missing')) continue;
    for (let d = api.dirname(root); d !== api.dirname(d); d = api.dirname(d)) {
      if (ctx.fs.kind(api.join(d, '.git')) === 'missing') continue;
      s.worktree(d, root);
      break;
    }
  }
  return { protect: s.protect, unprotected: s.unprotected };
}

class Surveyor {
  readonly protect: ProtectedPath[] = [];
  readonly unprotected: string[] = [];
  private readonly api: path.PlatformPath;
  private readonly seen = new Set<string>();

  constructor(private readonly ctx: SurfaceContext) {
    this.api = pathApi(ctx.platform);
  }

  /** A worktree folder `w` (a root, or a folder directly inside one): its `.git` and what that leads to. */
  worktree(w: string, root: string): void {
    const dotgit = this.api.join(w, '.git');
    const kind = this.ctx.fs.kind(dotgit);
    if (w === root) {
      // Folders directly inside a root that carry their own `.git` (linked worktrees, submodules, nested repos).
      for (const name of this.ctx.fs.list?.(w) ?? []) {
        const child = this.api.join(w, name);
        if (
          name !== '.git' &&
          this.ctx.fs.kind(child) === 'dir' &&
          this.ctx.fs.kind(this.api.join(child, '.git')) !== 'missing'
        ) {
          this.worktree(child, root);
        }
      }
    }
    if (kind === 'missing') return;
    let gitdir = dotgit;
    if (kind === 'file') {
      this.add(
        root,
        dotgit,
        'file-or-dir',
        'a gitfile: it names the repository (and so the config and hooks) git uses here',
      );
      const target = /^gitdir:\s*(.+?)\s*$/m.exec(this.ctx.fs.read?.(dotgit) ?? '')?.[1];
      if (!target) return;
      gitdir = this.real(this.api.resolve(w, target));
    } else if (kind !== 'dir') return;
    const common = this.gitdir(gitdir, dotgit === gitdir);
    this.configs(w, gitdir, common);
  }

  /** Protects one gitdir (and its common dir); returns the common dir. */
  private gitdir(g: string, isDotGit: boolean): string {
    const root = this.rootOf(g);
    if (root && isDotGit && this.ctx.fs.kind(this.api.join(g, 'HEAD')) === 'missing') {
      this.add(root, g, 'dir', 'not a repository (no HEAD): one read-only folder, so the sandbox cannot make it one');
      return g;
    }
    const dir = this.ctx.fs.read?.(this.api.join(g, 'commondir'))?.trim();
    const common = dir ? this.real(this.api.resolve(g, dir)) : g;
    for (const d of new Set([g, common])) this.gitdirRules(d);
    return common;
  }

  private gitdirRules(g: string): void {
    const root = this.rootOf(g);
    if (!root || this.seen.has(g)) return;
    this.seen.add(g);
    // Windows compares names case-insensitively: `Config` is `config` there.
    const fold = (n: string) => (this.ctx.platform === 'win32' ? n.toLowerCase() : n);
    const names = this.ctx.fs.list?.(g) ?? [];
    const present = new Set(names.map(fold));
    for (const r of GITDIR_ALWAYS) this.add(root, this.api.join(g, r.name), r.kind, r.reason, r.content);
    for (const r of GITDIR_IF_PRESENT) {
      if (present.has(r.name)) this.add(root, this.api.join(g, r.name), r.kind, r.reason);
    }
    const known = new Set(
      [...GITDIR_ALWAYS, ...GITDIR_IF_PRESENT]
        .map((r) => r.name)
        .concat(Object.keys(GITDIR_WRITABLE))
        .map(fold),
    );
    for (const name of names) {
      if (known.has(fold(name)) || WRITABLE_NAME.test(name)) continue;
      const p = this.api.join(g, name);
      this.add(
        root,
        p,
        this.ctx.fs.kind(p) === 'dir' ? 'dir' : 'file-or-dir',
        'not on the list of what commit, fetch and branch write inside a gitdir',
      );
    }
  }

  /** The configs git reads for worktree `w`, the includes and hooksPath they name, and the hook managers. */
  private configs(w: string, gitdir: string, common: string): void {
    const j = this.api.join;
    const xdg = this.ctx.env.XDG_CONFIG_HOME || j(this.ctx.home, '.config');
    const files = [
      j(common, 'config'),
      j(gitdir, 'config.worktree'),
      j(this.ctx.home, '.gitconfig'),
      j(xdg, 'git', 'config'),
      ...(this.ctx.env.GIT_CONFIG_GLOBAL ? [this.ctx.env.GIT_CONFIG_GLOBAL] : []),
      ...(this.ctx.platform === 'linux' ? ['/etc/gitconfig'] : []),
    ];
    const hookDirs = [j(common, 'hooks')];
    const visited = new Set<string>();
    const follow = (file: string, depth: number) => {
      if (depth > 10 || visited.has(file)) return;
      visited.add(file);
      for (const e of parseGitConfig(this.ctx.fs.read?.(file) ?? '')) {
        if (isIncludePath(e.name)) {
          const inc = this.real(this.expand(e.value, this.api.dirname(file)));
          const root = this.rootOf(inc);
          if (root) this.add(root, inc, 'file-or-dir', `included by ${file}: git reads it as config`);
          follow(inc, depth + 1);
        } else if (e.name === 'core.hookspath' && e.value) {
          hookDirs.push(this.hooksPath(this.real(this.expand(e.value, w)), file));
        }
      }
    };
    for (const f of files) follow(f, 0);
    this.hookManagers(w, hookDirs);
  }

  /** Protects a `core.hooksPath` inside a root (husky's `.husky/_` protects all of `.husky`); returns the folder. */
  private hooksPath(dir: string, file: string): string {
    const root = this.rootOf(dir);
    if (!root) return dir;
    const husky = this.api.basename(dir) === '_' && this.api.basename(this.api.dirname(dir)) === '.husky';
    const p = husky ? this.api.dirname(dir) : dir;
    this.add(
      root,
      p,
      'dir',
      husky
        ? `husky: core.hooksPath in ${file} runs the scripts in it`
        : `core.hooksPath in ${file}: git runs hooks from it`,
    );
    return p;
  }

  private hookManagers(w: string, hookDirs: string[]): void {
    const root = this.rootOf(w);
    if (!root) return;
    let text = '';
    for (const d of hookDirs) {
      for (const n of HOOK_NAMES) text += (this.ctx.fs.read?.(this.api.join(d, n)) ?? '') + '\n';
    }
    for (const m of MANAGERS) {
      if (!m.marker.test(text)) continue;
      for (const f of m.files) {
        const p = this.api.join(w, f);
        if (this.ctx.fs.kind(p) !== 'missing' || m.missingToo?.includes(f)) {
          this.add(root, p, 'file-or-dir', `${m.name}: the protected git hook runs what it configures`);
        }
      }
      for (const d of m.dirs ?? []) {
        const p = this.api.join(w, d);
        if (this.ctx.fs.kind(p) === 'dir')
          this.add(root, p, 'dir', `${m.name}: the protected git hook runs its scripts`);
      }
    }
    const pkg = this.ctx.fs.read?.(this.api.join(w, 'package.json')) ?? '';
    const rel = this.api.relative(root, this.api.join(w, 'package.json')).replace(/\\/g, '/');
    if (/"lint-staged"\s*:/.test(pkg) && /lint-staged/.test(text)) {
      this.unprotected.push(
        `${this.api.join(w, 'package.json')}: lint-staged runs the commands its "lint-staged" key ` +
          `lists from your git hook, and it stays writable (installs rewrite it). To protect it, add "${rel}" to ` +
          'agentSandbox.protectedPaths (CLI: --protect).',
      );
    }
    if (/"husky"\s*:\s*\{[^}]*"hooks"/.test(pkg)) {
      this.unprotected.push(
        `${this.api.join(w, 'package.json')}: husky 4 runs the hooks its "husky" key lists, and it ` +
          `stays writable. To protect it, add "${rel}" to agentSandbox.protectedPaths (CLI: --protect).`,
      );
    }
  }

  private add(root: string, p: string, kind: ProtectedPath['kind'], reason: string, content?: string): void {
    if (this.protect.some((x) => x.path === p)) return;
    const glob = this.api.relative(root, p).replace(/\\/g, '/') + (kind === 'dir' ? '/**' : '');
    this.protect.push({ path: p, root, glob, kind, reason, ...(content !== undefined ? { content } : {}) });
  }

  private rootOf(p: string): string | undefined {
    return this.ctx.roots.find((r) => isWithin(this.ctx.platform, r, p));
  }

  private real(p: string): string {
    const n = normalizeAbsolute(this.ctx.platform, p, 'path', true);
    const r = this.ctx.fs.realpath(n);
    return r === undefined ? n : normalizeAbsolute(this.ctx.platform, r, 'path', true);
  }

  /** `~/x` → home; relative → against `base`. */
  private expand(v: string, base: string): string {
    if (v === '~' || v.startsWith('~/')) return this.api.join(this.ctx.home, v.slice(1));
    return this.api.resolve(base, v);
  }
}
