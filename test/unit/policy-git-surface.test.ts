/**
 * Policy v2, each rule on both platforms' plans: what git executes from (gitdir allowlist, gitfile layouts,
 * hooksPath and include resolution, hook managers), editor workspace files, symlinked protected paths, and env
 * scrubbing. Pure: a fake filesystem view (folders, files with content, links) stands in for the disk.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as path from 'node:path';
import {
  compilePlan,
  type CompileContext,
  type FsView,
  type LinuxPlan,
  type Plan,
  type Win32Plan,
} from '../../src/policy';

type Tree = Record<string, string | null | { link: string }>;

/** `null` = folder, string = file content, `{ link }` = symbolic link. Parents are implied. */
function fakeFs(platform: 'linux' | 'win32', tree: Tree): FsView {
  const api = platform === 'win32' ? path.win32 : path.posix;
  const key = (p: string) => (platform === 'win32' ? p.toLowerCase() : p);
  const nodes = new Map<string, string | null | { link: string }>();
  const names = new Map<string, string>();
  const put = (p: string, v: string | null | { link: string }) => {
    nodes.set(key(p), v);
    names.set(key(p), api.basename(p));
  };
  for (const [p, v] of Object.entries(tree)) {
    put(p, v);
    for (let d = api.dirname(p); d !== api.dirname(d); d = api.dirname(d)) if (!nodes.has(key(d))) put(d, null);
    nodes.set(key(api.parse(p).root), null);
  }
  const resolve = (p: string): string | undefined => {
    const parts = p.split(/[\\/]/).filter(Boolean);
    let cur = platform === 'win32' ? '' : '/';
    for (const part of parts) {
      cur = cur === '' ? `${part}\\` : api.join(cur, part);
      const n = nodes.get(key(cur));
      if (n === undefined) return undefined;
      if (n !== null && typeof n === 'object') cur = resolve(n.link) ?? '\0';
      if (cur === '\0') return undefined;
    }
    return cur;
  };
  return {
    realpath: resolve,
    kind: (p) => {
      const r = resolve(p);
      if (r === undefined) return 'missing';
      return nodes.get(key(r)) === null ? 'dir' : 'file';
    },
    list: (d) => {
      const r = resolve(d);
      if (r === undefined) return undefined;
      return [...nodes.keys()].filter((k) => api.dirname(k) === key(r) && k !== key(r)).map((k) => names.get(k)!);
    },
    read: (f) => {
      const r = resolve(f);
      const n = r === undefined ? undefined : nodes.get(key(r));
      return typeof n === 'string' ? n : undefined;
    },
  };
}

const L = '/home/dev/repo';
const W = 'C:\\Users\\dev\\repo';
const linCtx = (tree: Tree, env: Record<string, string> = {}): CompileContext => ({
  platform: 'linux',
  home: '/home/dev',
  userTemp: '/tmp',
  stateDir: '/home/dev/.local/state/as',
  env,
  fs: fakeFs('linux', tree),
});
const winCtx = (tree: Tree): CompileContext => ({
  platform: 'win32',
  home: 'C:\\Users\\dev',
  userTemp: 'C:\\Users\\dev\\AppData\\Local\\Temp',
  stateDir: 'C:\\Users\\dev\\AppData\\Local\\AS',
  env: {},
  fs: fakeFs('win32', tree),
});
const lin = (tree: Tree, input: object = {}, env: Record<string, string> = {}) =>
  compilePlan({ workspaceRoots: [L], ...input }, linCtx({ [L]: null, ...tree }, env)) as LinuxPlan;
const win = (tree: Tree, input: object = {}) =>
  compilePlan({ workspaceRoots: [W], ...input }, winCtx({ [W]: null, ...tree })) as Win32Plan;

const prot = (p: Plan) => new Map(p.protectedPaths.map((x) => [x.path, x]));
const roBound = (p: LinuxPlan) =>
  p.bwrapArgs.flatMap((a, i) => (a === '--ro-bind' && p.bwrapArgs[i + 1] !== '/dev/null' ? [p.bwrapArgs[i + 1]] : []));
const denied = (p: Win32Plan) =>
  p.acl
    .filter((a) => a.action === 'deny' && a.reason === 'protected-path' && a.mask.names.includes('FILE_WRITE_DATA'))
    .map((a) => a.path);

const repo = (g: string, sep: string, extra: Tree = {}): Tree => ({
  [`${g}${sep}HEAD`]: 'ref: refs/heads/main\n',
  [`${g}${sep}config`]: '[core]\n',
  [`${g}${sep}hooks`]: null,
  [`${g}${sep}objects`]: null,
  [`${g}${sep}refs`]: null,
  [`${g}${sep}index`]: 'DIRC',
  [`${g}${sep}packed-refs`]: '',
  [`${g}${sep}logs`]: null,
  [`${g}${sep}info`]: null,
  ...extra,
});

describe('policy v2: inside a gitdir, read-only by default', () => {
  const extra = (g: string, sep: string): Tree => ({
    [`${g}${sep}branches`]: null,
    [`${g}${sep}rebase-merge`]: null,
    [`${g}${sep}rebase-merge${sep}git-rebase-todo`]: 'exec evil',
    [`${g}${sep}some-future-feature`]: 'x',
    [`${g}${sep}index.lock`]: '',
  });
  it('linux: everything but the allowlist is read-only, each with its reason; allowlisted entries stay writable', () => {
    const g = `${L}/.git`;
    const p = lin(repo(g, '/', extra(g, '/')));
    const m = prot(p);
    for (const n of [
      'config',
      'config.worktree',
      'hooks',
      'commondir',
      'modules',
      'worktrees',
      'rebase-merge',
      'branches',
      'some-future-feature',
    ]) {
      assert.ok(m.get(`${g}/${n}`)?.reason, `${n} is protected with a reason`);
      assert.ok(roBound(p).includes(`${g}/${n}`), `${n} is bound read-only`);
    }
    assert.match(m.get(`${g}/rebase-merge`)!.reason!, /exec lines run on `git rebase --continue`/);
    assert.match(m.get(`${g}/some-future-feature`)!.reason!, /not on the list/);
    for (const n of ['objects', 'refs', 'logs', 'index', 'HEAD', 'packed-refs', 'info', 'index.lock']) {
      assert.ok(!m.has(`${g}/${n}`), `${n} stays writable`);
    }
    assert.ok(
      p.bwrapArgs.join(' ').includes(`--bind ${g} ${g}`),
      '.git itself is pinned, so commit can make lock files',
    );
  });

  it('rebase-merge, rebase-apply and sequencer are never created as placeholders (git would see a rebase under way)', () => {
    const g = `${L}/.git`;
    const p = lin(repo(g, '/'));
    assert.ok(!p.placeholders.some((x) => /rebase|sequencer/.test(x.path)));
    assert.ok(!p.protectedPaths.some((x) => /rebase|sequencer/.test(x.path)));
    assert.deepEqual(
      p.placeholders
        .filter((x) => x.path.startsWith(g))
        .map((x) => x.path.slice(g.length + 1))
        .sort(),
      ['branches', 'commondir', 'config.worktree', 'modules', 'remotes', 'worktrees'],
    );
    assert.equal(p.placeholders.find((x) => x.path === `${g}/commondir`)?.content, '.\n');
  });

  it('win32: the same entries get deny-write ACEs (and allowlisted ones none)', () => {
    const g = `${W}\\.git`;
    const d = denied(win(repo(g, '\\', extra(g, '\\'))));
    for (const n of [
      'config',
      'config.worktree',
      'hooks',
      'commondir',
      'modules',
      'worktrees',
      'rebase-merge',
      'branches',
      'some-future-feature',
    ]) {
      assert.ok(d.includes(`${g}\\${n}`), n);
    }
    for (const n of ['objects', 'refs', 'index', 'HEAD']) assert.ok(!d.includes(`${g}\\${n}`), n);
  });

  it("an existing .git without HEAD (an earlier run's placeholder) stays one read-only folder on both platforms", () => {
    const lp = lin({ [`${L}/.git`]: null });
    assert.ok(roBound(lp).includes(`${L}/.git`));
    assert.ok(!lp.bwrapArgs.join(' ').includes(`--bind ${L}/.git `));
    assert.ok(!lp.placeholders.some((x) => x.path.startsWith(`${L}/.git/`)));
    assert.match(prot(lp).get(`${L}/.git`)!.reason!, /not a repository/);
    const wp = win({ [`${W}\\.git`]: null });
    assert.ok(denied(wp).includes(`${W}\\.git`));
    assert.ok(!wp.acl.some((a) => a.path.startsWith(`${W}\\.git\\`)));
  });
});

describe('policy v2: gitfile layouts resolve to the real gitdir', () => {
  it('--separate-git-dir inside the root: the real gitdir is protected, and the gitfile itself', () => {
    const sep = `${L}/meta/repo.git`;
    const p = lin({ [`${L}/.git`]: `gitdir: ${sep}\n`, ...repo(sep, '/') });
    const m = prot(p);
    for (const n of ['config', 'hooks', 'modules', 'worktrees', 'config.worktree']) assert.ok(m.has(`${sep}/${n}`), n);
    assert.match(m.get(`${L}/.git`)!.reason!, /gitfile/);
    assert.ok(roBound(p).includes(`${L}/.git`));
    assert.ok(!m.has(`${sep}/objects`));
  });

  it("a relative gitfile (.bare + worktrees): .bare and each worktree's gitfile are protected, on both platforms", () => {
    const p = lin({
      [`${L}/.git`]: 'gitdir: ./.bare\n',
      ...repo(`${L}/.bare`, '/'),
      [`${L}/.bare/worktrees/main/HEAD`]: 'ref',
      [`${L}/.bare/worktrees/main/commondir`]: '../..\n',
      [`${L}/main/.git`]: `gitdir: ${L}/.bare/worktrees/main\n`,
      [`${L}/main/src.ts`]: '',
    });
    const m = prot(p);
    for (const n of ['config', 'hooks', 'worktrees']) assert.ok(m.has(`${L}/.bare/${n}`), n);
    assert.ok(m.has(`${L}/main/.git`), "the linked worktree's gitfile");
    assert.equal(m.get(`${L}/.bare/worktrees`)!.kind, 'dir');
    const w = win({
      [`${W}\\.git`]: 'gitdir: ./.bare\n',
      ...repo(`${W}\\.bare`, '\\'),
      [`${W}\\main\\.git`]: 'gitdir: ../.bare/worktrees/main\n',
    });
    for (const n of ['.bare\\config', '.bare\\hooks', 'main\\.git', '.git'])
      assert.ok(denied(w).includes(`${W}\\${n}`), n);
    assert.ok(!w.acl.some((a) => a.path.startsWith(`${W}\\.git\\`)), 'nothing is created or denied below the gitfile');
  });

  it('a gitfile pointing outside every root: only the gitfile is protected (the gitdir is read-only already)', () => {
    const m = prot(lin({ [`${L}/.git`]: 'gitdir: /srv/git/repo.git\n', ...repo('/srv/git/repo.git', '/') }));
    assert.ok(m.has(`${L}/.git`));
    assert.ok(![...m.keys()].some((k) => k.startsWith('/srv')));
  });
});

describe('policy v2: hooksPath and includes, resolved at plan time', () => {
  it('core.hooksPath in the repository config (relative to the worktree) is protected; control: without it, not', () => {
    const g = `${L}/.git`;
    const p = lin(
      repo(g, '/', { [`${g}/config`]: '[core]\n\thooksPath = .githooks\n', [`${L}/.githooks/pre-commit`]: 'x' }),
    );
    assert.match(prot(p).get(`${L}/.githooks`)!.reason!, /core\.hooksPath in .*\.git\/config/);
    assert.ok(roBound(p).includes(`${L}/.githooks`));
    assert.ok(!prot(lin(repo(g, '/', { [`${L}/.githooks/pre-commit`]: 'x' }))).has(`${L}/.githooks`));
  });

  it('husky: core.hooksPath .husky/_ protects all of .husky', () => {
    const g = `${L}/.git`;
    const m = prot(lin(repo(g, '/', { [`${g}/config`]: '[core]\nhooksPath = .husky/_\n', [`${L}/.husky/_/h`]: '' })));
    assert.match(m.get(`${L}/.husky`)!.reason!, /husky/);
  });

  it("the user's global config: hooksPath and includes that resolve into a root are protected", () => {
    const g = `${L}/.git`;
    const m = prot(
      lin(
        repo(g, '/', {
          '/home/dev/.gitconfig': `[core]\n  hooksPath = ${L}/tools/hooks\n[include]\n  path = ~/.config/git/extra\n`,
          '/home/dev/.config/git/extra': `[includeIf "gitdir:~/"]\n  path = ${L}/team.gitconfig\n`,
          [`${L}/team.gitconfig`]: '[include]\n path = nested.inc\n',
          [`${L}/nested.inc`]: '[core]\n hooksPath = "hooks dir" ; c\n',
        }),
      ),
    );
    assert.ok(m.has(`${L}/tools/hooks`), 'global hooksPath');
    assert.match(m.get(`${L}/team.gitconfig`)!.reason!, /included by \/home\/dev\/.config\/git\/extra/);
    assert.ok(m.has(`${L}/nested.inc`), 'an include of an include, relative to the including file');
    assert.ok(m.has(`${L}/hooks dir`), 'hooksPath from an included file, quoted, comment stripped');
  });

  it('win32: include.path into the root from the repository config gets a deny ACE', () => {
    const g = `${W}\\.git`;
    const d = denied(
      win(
        repo(g, '\\', {
          [`${g}\\config`]: '[include]\n\tpath = ../shared.gitconfig\n',
          [`${W}\\shared.gitconfig`]: '',
        }),
      ),
    );
    assert.ok(d.includes(`${W}\\shared.gitconfig`));
  });
});

describe('policy v2: hook managers', () => {
  const g = `${L}/.git`;
  it('pre-commit and lefthook: the config the protected hook runs is protected', () => {
    const m = prot(
      lin(
        repo(g, '/', {
          [`${g}/hooks/pre-commit`]: '#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\n',
          [`${g}/hooks/pre-push`]: '#!/bin/sh\nlefthook run pre-push\n',
          [`${L}/lefthook.yml`]: '',
        }),
      ),
    );
    assert.match(m.get(`${L}/.pre-commit-config.yaml`)!.reason!, /pre-commit/);
    assert.ok(m.has(`${L}/lefthook.yml`));
    assert.ok(m.has(`${L}/lefthook-local.yml`), 'the local override lefthook merges, even when missing');
  });

  it('lint-staged from husky with its config in package.json: named as unprotected, with the setting', () => {
    const p = lin(
      repo(g, '/', {
        [`${g}/config`]: '[core]\n hooksPath = .husky/_\n',
        [`${L}/.husky/pre-commit`]: 'npx lint-staged\n',
        [`${L}/.husky/_/pre-commit`]: '. "$(dirname "$0")/h"',
        [`${L}/package.json`]: '{ "lint-staged": { "*.ts": "eslint" } }',
      }),
    );
    assert.equal(p.unprotected.length, 1);
    assert.match(p.unprotected[0], /package\.json: lint-staged .* agentSandbox\.protectedPaths/);
    // control: a package.json lint-staged key nobody's hook runs is not reported
    assert.deepEqual(lin(repo(g, '/', { [`${L}/package.json`]: '{ "lint-staged": {} }' })).unprotected, []);
  });
});

describe('policy v2: editor files, presets and symbolic links', () => {
  it('every top-level *.code-workspace and the open workspace file in a root are protected', () => {
    const p = lin(
      { [`${L}/app.code-workspace`]: '{}', [`${L}/sub/other.code-workspace`]: '{}' },
      { workspaceFile: `${L}/sub/other.code-workspace` },
    );
    assert.match(prot(p).get(`${L}/app.code-workspace`)!.reason!, /runOn: folderOpen/);
    assert.ok(prot(p).has(`${L}/sub/other.code-workspace`));
    assert.ok(denied(win({ [`${W}\\x.code-workspace`]: '{}' })).includes(`${W}\\x.code-workspace`));
  });

  it("the strict preset adds the other tools' files; the default does not", () => {
    assert.ok(prot(lin({}, { protectedPreset: 'strict' })).has(`${L}/.devcontainer`));
    assert.ok(prot(lin({}, { protectedPreset: 'strict' })).has(`${L}/.mcp.json`));
    assert.ok(!prot(lin({})).has(`${L}/.devcontainer`));
    // every protection in the plan says why, defaults and preset included
    for (const pp of [
      ...lin({}, { protectedPreset: 'strict' }).protectedPaths,
      ...win({}, { protectedPreset: 'strict' }).protectedPaths,
    ]) {
      assert.ok(pp.reason, `${pp.path} has a reason`);
    }
  });

  it('a protected folder that is a symlink inside the root: its parent and its target are protected instead', () => {
    const g = `${L}/.git`;
    const p = lin(
      repo(g, '/', { [`${g}/hooks`]: { link: `${L}/scripts/hooks` }, [`${L}/scripts/hooks/pre-commit`]: 'x' }),
    );
    const m = prot(p);
    assert.match(m.get(g)!.reason!, /holds the symbolic link .*\.git\/hooks/);
    assert.equal(m.get(g)!.kind, 'dir');
    assert.match(m.get(`${L}/scripts/hooks`)!.reason!, /the target of/);
    assert.ok(roBound(p).includes(g) && roBound(p).includes(`${L}/scripts/hooks`));
  });

  it('a hook file linking to a workspace script: the script is protected', () => {
    const g = `${L}/.git`;
    const m = prot(
      lin(repo(g, '/', { [`${g}/hooks/pre-commit`]: { link: `${L}/scripts/pc.sh` }, [`${L}/scripts/pc.sh`]: 'x' })),
    );
    assert.match(m.get(`${L}/scripts/pc.sh`)!.reason!, /symbolic link in the protected/);
  });

  it('a protected path whose link sits directly in the root (.vscode -> elsewhere) is refused, naming the link', () => {
    assert.throws(
      () => lin({ [`${L}/.vscode`]: { link: `${L}/shared/vscode` }, [`${L}/shared/vscode/tasks.json`]: '{}' }),
      (e: Error) => e.message.includes(`symbolic link ${L}/.vscode`),
    );
    assert.throws(
      () => win({ [`${W}\\.vscode`]: { link: `${W}\\shared` }, [`${W}\\shared\\t.json`]: '{}' }),
      /symbolic link/,
    );
  });
});

describe('policy v2: environment scrubbing', () => {
  const env = {
    PATH: '/usr/bin',
    HOME: '/home/dev',
    PWD: '/x',
    OLDPWD: '/y',
    LANG: 'C',
    MYSQL_PWD: 'a',
    db_password: 'b',
    GPG_PASSPHRASE: 'c',
    gitlab_token_x: 'd',
    CLIENT_SECRET_FILE: 'e',
    NPM_CONFIG__AUTH: 'f',
    SSH_SESSION_KEY: 'g',
    XDG_SESSION_TYPE: 'wayland',
    XDG_SESSION_ID: '3',
    TF_TOKEN_app_terraform_io: 'h',
    DATABASE_URL: 'i',
    '//registry.npmjs.org/:_authToken': 'j',
    HTTPS_PROXY: 'http://me:hunter2@proxy:3128',
    NO_AUTH_PROXY: 'http://proxy:3128',
    STY: '1.pts',
    TMUX: '/tmp/tmux-1000/default,1,0',
    TMUX_PANE: '%1',
    VSCODE_IPC_HOOK_CLI: '/run/user/1000/vscode.sock',
    SESSION_MANAGER: 'local/x:@/tmp/.ICE-unix/1',
    KEEP_MY_TOKEN: 'k',
  };
  it('removes by case-insensitive, path-free patterns and by URL passwords; keeps ordinary variables', () => {
    const p = lin({}, { env: { allow: ['KEEP_MY_TOKEN', 'XDG_SESSION_*'] } }, env);
    for (const n of [
      'MYSQL_PWD',
      'db_password',
      'GPG_PASSPHRASE',
      'gitlab_token_x',
      'CLIENT_SECRET_FILE',
      'NPM_CONFIG__AUTH',
      'SSH_SESSION_KEY',
      'TF_TOKEN_app_terraform_io',
      'DATABASE_URL',
      '//registry.npmjs.org/:_authToken',
      'HTTPS_PROXY',
      'STY',
      'TMUX',
      'TMUX_PANE',
      'VSCODE_IPC_HOOK_CLI',
      'SESSION_MANAGER',
    ]) {
      assert.ok(p.env.remove.includes(n), `${n} removed`);
    }
    for (const n of [
      'PATH',
      'HOME',
      'PWD',
      'OLDPWD',
      'LANG',
      'XDG_SESSION_TYPE',
      'XDG_SESSION_ID',
      'NO_AUTH_PROXY',
      'KEEP_MY_TOKEN',
    ]) {
      assert.ok(!p.env.remove.includes(n), `${n} kept`);
    }
  });
  it('the defaults keep XDG_SESSION_* (allow wins over *SESSION*); an allow glob keeps a password URL too', () => {
    const p = lin({}, {}, env);
    assert.ok(!p.env.remove.includes('XDG_SESSION_TYPE'));
    assert.ok(
      !lin({}, { env: { allow: ['https_proxy'] } }, env).env.remove.includes('HTTPS_PROXY'),
      'allow is case-insensitive',
    );
  });
});

describe('policy v2: credential sockets named only in ~/.ssh/config', () => {
  it('IdentityAgent sockets are hidden (none and SSH_AUTH_SOCK skipped); control: without the config, not', () => {
    const tree: Tree = {
      '/home/dev/.ssh/config':
        'Host *\n  IdentityAgent ~/.local/share/agent.sock\nHost x\n  IdentityAgent none\n' +
        'Host y\n  IdentityAgent="/var/lib/agents/y.sock"\nHost z\n  IdentityAgent SSH_AUTH_SOCK\n',
      '/home/dev/.local/share/agent.sock': '',
      '/var/lib/agents/y.sock': '',
    };
    const p = lin(tree, { denyRead: [] });
    assert.deepEqual(p.denyRead, ['/home/dev/.local/share/agent.sock', '/var/lib/agents/y.sock']);
    const a = p.bwrapArgs.join(' ');
    assert.ok(
      a.includes('--ro-bind /dev/null /home/dev/.local/share/agent.sock') &&
        a.includes('--ro-bind /dev/null /var/lib/agents/y.sock'),
    );
    assert.deepEqual(lin({ '/var/lib/agents/y.sock': '' }, { denyRead: [] }).denyRead, []);
  });
});

describe('policy v2: a root inside a repository', () => {
  it("the enclosing repository's hooksPath that points into the root is protected; its gitdir (outside) is not listed", () => {
    const top = '/home/dev/mono';
    const root = `${top}/pkg`;
    const tree: Tree = {
      ...repo(`${top}/.git`, '/', { [`${top}/.git/config`]: '[core]\n\thooksPath = pkg/hooks\n' }),
      [root]: null,
    };
    const p = compilePlan({ workspaceRoots: [root] }, linCtx(tree)) as LinuxPlan;
    assert.match(prot(p).get(`${root}/hooks`)!.reason!, /core\.hooksPath in \/home\/dev\/mono\/\.git\/config/);
    assert.ok(!p.protectedPaths.some((x) => x.path.startsWith(`${top}/.git`)));
    // the next run, with the root's own .git placeholder (empty) in place: still followed
    const again = compilePlan({ workspaceRoots: [root] }, linCtx({ ...tree, [`${root}/.git`]: null })) as LinuxPlan;
    assert.ok(prot(again).has(`${root}/hooks`));
  });
});
