/**
 * Linux sandbox, policy v2 end to end: the host's git never runs a command the sandbox wrote, through each route
 * git executes from (config, config.worktree, hooksPath, includes from the repository and the user's global config,
 * gitfile layouts, submodules, a rebase todo list, symlinked hooks, a hook manager's config), judged by a marker
 * file that only the host's git would create outside the roots. Each route has a control: the same write made on
 * the host does make the host's git create the marker, so the route is real and the test can fail.
 * Also: git keeps working inside the sandbox, new nested repositories are reported, and a missing .git stays one
 * read-only folder on every run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { compilePlan, type LinuxPlan, type PolicyInput } from '../../../src/policy';
import { hostContext } from '../../../src/sandbox/host';
import { indexGitlinks } from '../../../src/sandbox/nested-git';
import { CLI, coldBackend, hostDir, NODE, run, sh, STATE_DIR, tempDir } from './helpers';

const backend = coldBackend();
after(() => backend.dispose());

/** A user's home for the host's git (its global config), separate from the real one. */
function fakeHome(): string {
  return hostDir('as-home-');
}

function gitEnv(home: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.com',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.com',
    GIT_TERMINAL_PROMPT: '0',
  };
}

/** The host's git (not sandboxed). Exit status is the caller's business: a trigger may fail after running code. */
function git(cwd: string, home: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync('git', args, { cwd, env: { ...gitEnv(home), ...env }, encoding: 'utf8', timeout: 20_000 });
  return `${r.stdout}${r.stderr}`;
}

function hostSh(cwd: string, home: string, script: string): void {
  spawnSync('sh', ['-c', script], { cwd, env: gitEnv(home), timeout: 20_000 });
}

function planFor(ws: string, home: string, input: Partial<PolicyInput> = {}): LinuxPlan {
  const env = { ...process.env, HOME: home };
  const p = compilePlan(
    { workspaceRoots: [ws], ...input },
    hostContext({ platform: 'linux', stateDir: STATE_DIR, home, env }),
  );
  assert.equal(p.platform, 'linux');
  return p as LinuxPlan;
}

function initRepo(ws: string, home: string): void {
  git(ws, home, ['init', '-q', '-b', 'main']);
  fs.writeFileSync(path.join(ws, 'f.txt'), 'one\n');
  git(ws, home, ['add', 'f.txt']);
  git(ws, home, ['commit', '-qm', 'one']);
}

const fsmonitor = (file: string, m: string) => `printf '[core]\\n\\tfsmonitor = touch ${m}\\n' >> ${file}`;
const hook = (file: string, m: string) =>
  `mkdir -p "$(dirname ${file})"; printf '#!/bin/sh\\ntouch ${m}\\n' > ${file}; chmod +x ${file}`;
const commit = (ws: string, home: string) => git(ws, home, ['commit', '-q', '--allow-empty', '-m', 'host commit']);
const status = (dir: string) => (ws: string, home: string) => git(path.join(ws, dir), home, ['status', '--porcelain']);
const sshFetch = (ws: string, home: string) => git(ws, home, ['fetch', '-q', 'ssh://git@127.0.0.1:1/x']);

interface Route {
  name: string;
  /** Prepares the repository on the host (before the plan is made). */
  setup(ws: string, home: string): void;
  /** What the attacker writes, as a shell script run with the workspace as cwd; `m` is the marker path. */
  attack(m: string): string;
  /** The host's git doing something ordinary that would run the planted command. */
  trigger(ws: string, home: string): void;
}

const routes: Route[] = [
  {
    name: 'core.fsmonitor in .git/config',
    setup: initRepo,
    trigger: status('.'),
    attack: (m) => `git config core.fsmonitor "touch ${m}"; ${fsmonitor('.git/config', m)}`,
  },
  {
    name: 'core.sshCommand in .git/config',
    setup: initRepo,
    trigger: sshFetch,
    attack: (m) =>
      `git config core.sshCommand "touch ${m} #" || printf '[core]\\n\\tsshCommand = "touch ${m} #"\\n' >> .git/config`,
  },
  {
    name: 'core.fsmonitor in .git/config.worktree (extensions.worktreeConfig)',
    trigger: status('.'),
    setup: (ws, home) => {
      initRepo(ws, home);
      git(ws, home, ['config', 'core.repositoryformatversion', '1']);
      git(ws, home, ['config', 'extensions.worktreeConfig', 'true']);
    },
    attack: (m) => fsmonitor('.git/config.worktree', m),
  },
  {
    name: 'a hook in core.hooksPath (.githooks, not yet created)',
    trigger: commit,
    setup: (ws, home) => {
      initRepo(ws, home);
      git(ws, home, ['config', 'core.hooksPath', '.githooks']);
    },
    attack: (m) => hook('.githooks/pre-commit', m),
  },
  {
    name: 'core.fsmonitor in a file named by include.path in the repository config',
    trigger: status('.'),
    setup: (ws, home) => {
      initRepo(ws, home);
      fs.writeFileSync(path.join(ws, 'team.gitconfig'), '');
      git(ws, home, ['config', 'include.path', '../team.gitconfig']);
    },
    attack: (m) => fsmonitor('team.gitconfig', m),
  },
  {
    name: "core.sshCommand in a workspace file named by includeIf in the user's global config",
    trigger: sshFetch,
    setup: (ws, home) => {
      initRepo(ws, home);
      fs.writeFileSync(path.join(ws, 'dev.gitconfig'), '');
      fs.writeFileSync(path.join(home, '.gitconfig'), `[includeIf "gitdir:${ws}/"]\n\tpath = ${ws}/dev.gitconfig\n`);
    },
    attack: (m) => `printf '[core]\\n\\tsshCommand = "touch ${m} #"\\n' >> dev.gitconfig`,
  },
  {
    name: 'core.fsmonitor in a --separate-git-dir gitdir inside the root',
    trigger: status('.'),
    setup: (ws, home) => {
      fs.mkdirSync(path.join(ws, 'meta'));
      git(ws, home, ['init', '-q', `--separate-git-dir=${ws}/meta/repo.git`]);
      assert.match(fs.readFileSync(path.join(ws, '.git'), 'utf8'), /^gitdir: /, 'a gitfile layout');
      fs.writeFileSync(path.join(ws, 'f.txt'), '1');
      git(ws, home, ['add', 'f.txt']);
      git(ws, home, ['commit', '-qm', 'one']);
    },
    attack: (m) => fsmonitor('meta/repo.git/config', m),
  },
  {
    name: 'core.fsmonitor in the .bare gitdir of a .bare + worktrees layout',
    trigger: status('main'),
    setup: (ws, home) => {
      const src = hostDir('as-src-');
      initRepo(src, home);
      git(ws, home, ['clone', '-q', '--bare', src, '.bare']);
      fs.writeFileSync(path.join(ws, '.git'), 'gitdir: ./.bare\n');
      git(ws, home, ['worktree', 'add', '-q', 'main']);
    },
    attack: (m) => fsmonitor('.bare/config', m),
  },
  {
    name: "core.fsmonitor in a submodule's gitdir (.git/modules)",
    trigger: status('sub'),
    setup: (ws, home) => {
      const src = hostDir('as-src-');
      initRepo(src, home);
      initRepo(ws, home);
      git(ws, home, ['-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', src, 'sub']);
    },
    attack: (m) => fsmonitor('.git/modules/sub/config', m),
  },
  {
    name: 'an exec line in the todo list of a rebase stopped on the host',
    trigger: (ws, home) => git(ws, home, ['rebase', '--continue']),
    setup: (ws, home) => {
      initRepo(ws, home);
      for (const n of ['two', 'three']) {
        fs.writeFileSync(path.join(ws, 'f.txt'), `${n}\n`);
        git(ws, home, ['commit', '-qam', n]);
      }
      git(ws, home, ['rebase', '-q', '-i', 'HEAD~2'], { GIT_SEQUENCE_EDITOR: 'sed -i 1s/^pick/edit/' });
      assert.ok(fs.existsSync(path.join(ws, '.git/rebase-merge')), 'the rebase stopped');
    },
    attack: (m) => `echo "exec touch ${m}" >> .git/rebase-merge/git-rebase-todo`,
  },
  {
    name: 'a hook written through a symlinked .git/hooks (or after replacing the link)',
    trigger: commit,
    setup: (ws, home) => {
      initRepo(ws, home);
      fs.mkdirSync(path.join(ws, 'scripts/hooks'), { recursive: true });
      fs.rmSync(path.join(ws, '.git/hooks'), { recursive: true, force: true });
      fs.symlinkSync('../scripts/hooks', path.join(ws, '.git/hooks'));
    },
    attack: (m) =>
      `${hook('scripts/hooks/pre-commit', m)}; rm -f .git/hooks && mkdir .git/hooks && ${hook('.git/hooks/pre-commit', m)}`,
  },
  {
    name: 'a workspace script that a hook file links to',
    trigger: commit,
    setup: (ws, home) => {
      initRepo(ws, home);
      fs.mkdirSync(path.join(ws, 'scripts'));
      fs.writeFileSync(path.join(ws, 'scripts/pc.sh'), '#!/bin/sh\ntrue\n', { mode: 0o755 });
      fs.symlinkSync('../../scripts/pc.sh', path.join(ws, '.git/hooks/pre-commit'));
    },
    attack: (m) => `echo "touch ${m}" >> scripts/pc.sh`,
  },
  {
    name: 'the config of a hook manager (a pre-commit shim that runs the workspace config; simulated manager)',
    trigger: commit,
    setup: (ws, home) => {
      initRepo(ws, home);
      fs.writeFileSync(
        path.join(ws, '.git/hooks/pre-commit'),
        '#!/bin/sh\n# File generated by pre-commit (test shim: runs the workspace config as the real one runs its hooks)\n' +
          'sh .pre-commit-config.yaml\n',
        { mode: 0o755 },
      );
      fs.writeFileSync(path.join(ws, '.pre-commit-config.yaml'), 'true\n');
    },
    attack: (m) => `echo "touch ${m}" >> .pre-commit-config.yaml`,
  },
];

function fresh() {
  const ws = tempDir('as-ws-');
  const home = fakeHome();
  const marker = path.join(hostDir('as-marker-'), 'host-ran-it');
  return { ws, home, marker };
}

describe("linux sandbox: the host's git never runs a command the sandbox wrote", () => {
  for (const r of routes) {
    it(`${r.name}: not run by the host's git`, async () => {
      const { ws, home, marker } = fresh();
      r.setup(ws, home);
      const res = await run(backend, planFor(ws, home), sh(`${r.attack(marker)}; echo done`));
      assert.match(res.stdout, /done/, res.stderr);
      assert.equal(fs.existsSync(marker), false, 'the sandbox cannot create the marker itself');
      r.trigger(ws, home);
      assert.equal(fs.existsSync(marker), false, `the host's git ran what the sandbox wrote (${r.name})`);
    });
    it(`${r.name}: control, the same write made on the host is run by the host's git`, () => {
      const { ws, home, marker } = fresh();
      r.setup(ws, home);
      hostSh(ws, home, r.attack(marker));
      r.trigger(ws, home);
      assert.equal(fs.existsSync(marker), true, 'the route is real: without the sandbox, the host runs it');
    });
  }
});

describe('linux sandbox: git still works inside', () => {
  it('add, commit, branch, switch, stash, tag and fetch from a local remote succeed in a protected repository', async () => {
    const { ws, home } = fresh();
    const remote = hostDir('as-remote-');
    initRepo(remote, home);
    initRepo(ws, home);
    git(ws, home, ['remote', 'add', 'origin', remote]);
    const env = Object.entries(gitEnv(home))
      .filter(([k]) => k.startsWith('GIT_'))
      .map(([k, v]) => `${k}='${v}'`)
      .join(' ');
    const res = await run(
      backend,
      planFor(ws, home),
      sh(`export ${env} HOME='${home}'; set -e
      echo two > f.txt; git add f.txt; git commit -qm two; git branch feature; git switch -q feature
      echo three > f.txt; git stash -q; git stash pop -q; git commit -qam three; git tag v1; git fetch -q origin
      git log --oneline | wc -l`),
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), '3');
    assert.match(git(ws, home, ['branch', '--show-current']), /feature/);
    assert.match(git(ws, home, ['rev-parse', 'origin/main']), /^[0-9a-f]{40}/);
  });
});

describe('linux sandbox: repositories the sandbox creates are reported', () => {
  const cli = (ws: string, home: string, script: string) =>
    spawnSync(NODE, [CLI, 'run', '--workspace', ws, '--', 'sh', '-c', script], {
      cwd: ws,
      encoding: 'utf8',
      env: { ...gitEnv(home), AGENT_SANDBOX_STATE_DIR: STATE_DIR },
      timeout: 60_000,
    });

  it('a new nested repository with core.fsmonitor and a gitlink: the CLI names both as untrusted with how to remove them', () => {
    const { ws, home, marker } = fresh();
    initRepo(ws, home);
    const r = cli(
      ws,
      home,
      `export HOME='${home}' GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@b GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@b
      git init -q sub && cd sub && git commit -q --allow-empty -m x && git config core.fsmonitor "touch ${marker}" && cd .. &&
      git update-index --add --cacheinfo 160000,$(git -C sub rev-parse HEAD),sub`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`nested repository ${ws}/sub/\\.git: remove it with {2}rm -rf`));
    assert.match(r.stderr, new RegExp(`gitlink ${ws}/sub in the index .*git rm --cached`));
    // why it is reported rather than prevented: the host's git does run it
    git(ws, home, ['status']);
    assert.equal(fs.existsSync(marker), true, 'a nested repository is a real route, so the report matters');
  });

  it('control: a run that creates no repository reports nothing, and existing nested repositories are not re-reported', () => {
    const { ws, home } = fresh();
    initRepo(ws, home);
    git(ws, home, ['init', '-q', 'vendored']);
    const r = cli(ws, home, 'echo hi > x.txt');
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /untrusted|nested repository|gitlink/);
  });

  it("indexGitlinks reads gitlinks from index versions 2 and 4 (checked against the host's git)", () => {
    const { ws, home } = fresh();
    initRepo(ws, home);
    const sha = git(ws, home, ['rev-parse', 'HEAD']).trim();
    git(ws, home, ['update-index', '--add', '--cacheinfo', `160000,${sha},deep/dir/mod`]);
    git(ws, home, ['update-index', '--add', '--cacheinfo', `160000,${sha},deep/dir/mod2`]);
    assert.deepEqual(indexGitlinks(path.join(ws, '.git/index')), ['deep/dir/mod', 'deep/dir/mod2']);
    git(ws, home, ['update-index', '--index-version', '4']);
    assert.deepEqual(indexGitlinks(path.join(ws, '.git/index')), ['deep/dir/mod', 'deep/dir/mod2']);
  });
});

describe('linux sandbox: a missing .git stays one read-only folder on every run', () => {
  it('a run while another sandbox holds the placeholder cannot make it a repository either', async () => {
    const { ws, home } = fresh();
    const attempt = sh(
      'git init -q . 2>/dev/null && echo INIT; mkdir .git/objects 2>/dev/null && echo MKDIR; echo x > .git/HEAD 2>/dev/null && echo HEAD; true',
    );
    const first = await run(backend, planFor(ws, home), attempt);
    assert.doesNotMatch(first.stdout, /INIT|MKDIR|HEAD/, `run 1: ${first.stdout}`);
    assert.equal(fs.existsSync(path.join(ws, '.git')), false, 'run 1: the placeholder went with its sandbox');
    // A sandbox still running keeps the placeholder, so the next plan finds a .git folder without HEAD.
    const holder = await backend.spawn(planFor(ws, home), { argv: ['sleep', '30'], cwd: ws, stdio: 'pipe' });
    try {
      assert.deepEqual(
        fs.readdirSync(path.join(ws, '.git')),
        [],
        'control: the placeholder is there while a sandbox runs',
      );
      const second = await run(backend, planFor(ws, home), attempt);
      assert.doesNotMatch(second.stdout, /INIT|MKDIR|HEAD/, `run 2: ${second.stdout}`);
      assert.deepEqual(fs.readdirSync(path.join(ws, '.git')), [], 'run 2: .git is still one empty folder');
    } finally {
      holder.kill();
      await holder.exited;
    }
    assert.equal(fs.existsSync(path.join(ws, '.git')), false, 'the last sandbox took the placeholder back');
  });
});

describe('linux sandbox: editor and shell files', () => {
  it('.code-workspace, .envrc and .env cannot be written or created; the strict preset adds .mcp.json and .devcontainer', async () => {
    const { ws, home } = fresh();
    fs.writeFileSync(path.join(ws, 'app.code-workspace'), '{}');
    const script = [
      'echo x >> app.code-workspace',
      'echo x > .envrc',
      'echo x > .env',
      'echo x > .mcp.json',
      'mkdir -p .devcontainer && echo x > .devcontainer/devcontainer.json',
      'echo x > ordinary.json',
    ]
      .map((c) => `(${c}) 2>/dev/null && echo "ALLOWED: ${c}"`)
      .join('; ');
    const plain = await run(backend, planFor(ws, home), sh(`${script}; true`));
    assert.deepEqual(plain.stdout.trim().split('\n').sort(), [
      'ALLOWED: echo x > .mcp.json',
      'ALLOWED: echo x > ordinary.json',
      'ALLOWED: mkdir -p .devcontainer && echo x > .devcontainer/devcontainer.json',
    ]);
    assert.equal(fs.readFileSync(path.join(ws, 'app.code-workspace'), 'utf8'), '{}');
    fs.rmSync(path.join(ws, '.mcp.json'));
    fs.rmSync(path.join(ws, '.devcontainer'), { recursive: true });
    const strict = await run(backend, planFor(ws, home, { protectedPreset: 'strict' }), sh(`${script}; true`));
    assert.deepEqual(
      strict.stdout.trim().split('\n'),
      ['ALLOWED: echo x > ordinary.json'],
      'control: ordinary files stay writable',
    );
  });
});
