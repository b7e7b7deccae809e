/**
 * Leave no trace, Linux: placeholders the sandbox creates for missing protected paths exist only while a sandbox
 * of the workspace runs (the last one to end takes them back, with the private temp). Those a crash left behind are
 * recorded, and `agent-sandbox uninstall` (the bundled CLI, real filesystem) takes back those still empty and
 * unchanged, keeps and reports any the user wrote into, removes the private temp folders, and can run twice. Also:
 * what a missing `.git` placeholder means to git on the host and inside the sandbox.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CLI, hostDir, NODE, tempDir } from './helpers';

// These runs are cold by design; the warm broker a run leaves behind has its own tests (warm.test.ts).
process.env.AGENT_SANDBOX_BROKER = '0';

function cli(args: string[], cwd: string, stateDir: string) {
  return spawnSync(NODE, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: stateDir },
  });
}

/**
 * A CLI run killed with SIGKILL while its command runs (its sandbox dies with it): what a crash leaves behind, the
 * placeholders recorded in the ledger, for uninstall to take back.
 */
async function crashedRun(ws: string, stateDir: string): Promise<void> {
  const { child, exited } = await runningSleep(ws, stateDir, 30);
  child.kill('SIGKILL');
  await exited;
}

/** A CLI run of `sleep seconds`, once its sandbox is up (its placeholders are there). */
async function runningSleep(ws: string, stateDir: string, seconds: number) {
  const child = spawn(NODE, [CLI, 'run', '--', 'sleep', String(seconds)], {
    cwd: ws,
    stdio: 'ignore',
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: stateDir },
  });
  const exited = new Promise((r) => child.once('exit', r));
  const end = Date.now() + 20_000;
  while (!fs.existsSync(path.join(ws, '.agent-sandbox')) && Date.now() < end)
    await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300)); // the sandbox is up
  return { child, exited };
}

function git(args: string[], cwd: string) {
  return spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CEILING_DIRECTORIES: '' } });
}

describe('linux uninstall: placeholders and state', () => {
  it('a run leaves the workspace exactly as before: placeholders exist only while it runs; its temp goes too', () => {
    const ws = tempDir('as-un-');
    const state = path.join(tempDir('as-un-state-'), 'state');
    fs.writeFileSync(path.join(ws, 'mine.txt'), 'mine');
    const r = cli(
      ['run', '--', 'sh', '-c', 'ls -A; ls -A .git | wc -l; echo out > made.txt; echo t > /tmp/t'],
      ws,
      state,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stdout,
      '.agent-sandbox\n.env\n.envrc\n.git\n.vscode\nmine.txt\n0\n',
      'inside: empty read-only placeholders',
    );
    assert.deepEqual(
      fs.readdirSync(ws).sort(),
      ['made.txt', 'mine.txt'],
      "after: only the user's and the command's files",
    );
    assert.deepEqual(fs.readdirSync(path.join(state, 'tmp')), [], 'the private temp went with its last sandbox');
    const u = cli(['uninstall'], ws, state);
    assert.equal(u.status, 0, u.stderr);
    assert.equal(fs.existsSync(state), false, 'the state folder (temp, ledger) is gone');
  });

  it('after a crash: uninstall removes the placeholders left behind, the temp folders and the state folder', async () => {
    const ws = tempDir('as-un-');
    const state = path.join(tempDir('as-un-state-'), 'state');
    await crashedRun(ws, state);
    assert.deepEqual(
      fs.readdirSync(ws).sort(),
      ['.agent-sandbox', '.env', '.envrc', '.git', '.vscode'],
      'control: the crash left them',
    );
    const u = cli(['uninstall'], ws, state);
    assert.equal(u.status, 0, u.stderr);
    assert.deepEqual(fs.readdirSync(ws), []);
    for (const n of ['.git', '.vscode', '.agent-sandbox', '.env', '.envrc'])
      assert.match(u.stdout, new RegExp(`removed ${path.join(ws, n)}`));
    assert.equal(fs.existsSync(state), false);
  });

  it('uninstall while a sandbox runs keeps what it uses and the records of it, so its end still takes its placeholders back, and the state folder is not made again (control: while it runs they are there)', async () => {
    const ws = tempDir('as-un-');
    const state = path.join(tempDir('as-un-state-'), 'state');
    const { exited } = await runningSleep(ws, state, 3);
    const u = cli(['uninstall'], ws, state);
    assert.equal(u.status, 0, u.stderr);
    assert.match(u.stdout, /kept .*\.git: a sandbox that uses it is still running/);
    assert.deepEqual(
      fs.readdirSync(ws).sort(),
      ['.agent-sandbox', '.env', '.envrc', '.git', '.vscode'],
      'control: the running sandbox still has them',
    );
    await exited;
    assert.deepEqual(fs.readdirSync(ws), [], 'its end took them back');
    const again = cli(['uninstall'], ws, state);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(fs.existsSync(state), false, 'the second uninstall leaves nothing');
  });

  it('the next run after a crash takes back the placeholders the crash left', async () => {
    const ws = tempDir('as-un-');
    const state = tempDir('as-un-state-');
    await crashedRun(ws, state);
    assert.equal(cli(['run', '--', 'true'], ws, state).status, 0);
    assert.deepEqual(fs.readdirSync(ws), []);
  });

  it('keeps and reports placeholders the user wrote into; removes the rest; a second run is a no-op', async () => {
    const ws = tempDir('as-un-');
    const state = tempDir('as-un-state-');
    await crashedRun(ws, state);
    fs.writeFileSync(path.join(ws, '.vscode', 'settings.json'), '{}');
    assert.equal(git(['init', '-q'], ws).status, 0, 'git init on the host works over the empty .git placeholder');
    const u = cli(['uninstall'], ws, state);
    assert.equal(u.status, 0, u.stderr);
    assert.match(u.stdout, new RegExp(`kept ${path.join(ws, '.vscode')}: not empty`));
    assert.match(u.stdout, new RegExp(`kept ${path.join(ws, '.git')}: not empty`));
    assert.match(u.stdout, new RegExp(`removed ${path.join(ws, '.agent-sandbox')}`));
    assert.equal(fs.readFileSync(path.join(ws, '.vscode', 'settings.json'), 'utf8'), '{}');
    assert.ok(fs.existsSync(path.join(ws, '.git', 'HEAD')));
    assert.equal(fs.existsSync(path.join(ws, '.agent-sandbox')), false);
    const again = cli(['uninstall'], ws, state);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /0 removed, 0 kept/);
    assert.ok(fs.existsSync(path.join(ws, '.vscode', 'settings.json')));
  });

  it('keeps a placeholder file the user filled and one replaced by their own copy; never touches older folders', async () => {
    const ws = tempDir('as-un-');
    const state = tempDir('as-un-state-');
    fs.mkdirSync(path.join(ws, '.git', 'hooks'), { recursive: true });
    fs.writeFileSync(path.join(ws, '.git', 'HEAD'), 'ref: refs/heads/main\n'); // a repository, so its children are protected
    await crashedRun(ws, state);
    assert.equal(fs.readFileSync(path.join(ws, '.git', 'config'), 'utf8'), '', 'an empty .git/config placeholder');
    fs.writeFileSync(path.join(ws, '.git', 'config'), '[core]\n');
    fs.renameSync(path.join(ws, '.agent-sandbox'), path.join(ws, 'moved-away'));
    fs.mkdirSync(path.join(ws, '.agent-sandbox'));
    const u = cli(['uninstall'], ws, state);
    assert.equal(u.status, 0, u.stderr);
    assert.match(u.stdout, /kept .*\.git\/config: has content/);
    assert.match(u.stdout, /kept .*\.agent-sandbox: replaced/);
    assert.match(u.stdout, /removed .*\.vscode/);
    assert.equal(fs.readFileSync(path.join(ws, '.git', 'config'), 'utf8'), '[core]\n');
    assert.ok(fs.existsSync(path.join(ws, '.git', 'hooks')), 'folders that existed before the run are never touched');
    assert.ok(fs.existsSync(path.join(ws, '.agent-sandbox')));
    assert.equal(fs.existsSync(path.join(ws, '.vscode')), false);
  });

  it('the .git placeholder of a non-git workspace: host git still finds the parent repository; git init inside is refused', async () => {
    const parent = hostDir('as-un-parent-');
    assert.equal(git(['init', '-q'], parent).status, 0);
    const ws = path.join(parent, 'ws');
    fs.mkdirSync(ws);
    const state = tempDir('as-un-state-');
    const r = cli(['run', '--', 'sh', '-c', 'git init -q 2>&1; echo "init=$?"; ls -A .git | wc -l'], ws, state);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /init=[1-9]\d*\n0\n/, 'git init inside the sandbox must fail (it would write .git/config)');
    assert.equal(fs.existsSync(path.join(ws, '.git')), false, 'the placeholder went with the sandbox');
    await crashedRun(ws, state);
    const top = git(['rev-parse', '--show-toplevel'], ws);
    assert.equal(top.stdout.trim(), parent, 'an empty .git is not a repository: git walks up as before');
    assert.equal(cli(['uninstall'], ws, state).status, 0);
    assert.equal(fs.existsSync(path.join(ws, '.git')), false);
  });
});

describe('linux: .git/commondir cannot be planted', () => {
  it('in a real repository the sandbox cannot write .git/commondir; host git keeps working and the placeholder goes with the sandbox', () => {
    const ws = tempDir('as-cd-');
    const state = path.join(tempDir('as-cd-state-'), 'state');
    assert.equal(git(['init', '-q', '.'], ws).status, 0);
    fs.writeFileSync(path.join(ws, 'a.txt'), 'a');
    const attack =
      'mkdir -p evil && printf "[core]\\n\\tfsmonitor = touch pwned\\n" > evil/config; ' +
      'printf "evil\\n" > .git/commondir && echo planted; git add a.txt && echo added; cat .git/commondir';
    const r = cli(['run', '--', 'sh', '-c', attack], ws, state);
    assert.doesNotMatch(r.stdout, /planted/, r.stderr);
    assert.match(
      r.stdout,
      /added\n\.\n$/,
      `git still works inside the sandbox; the placeholder names the repository itself: ${r.stderr}`,
    );
    assert.equal(fs.existsSync(path.join(ws, '.git', 'commondir')), false, 'the placeholder went with the sandbox');
    const st = git(['status', '--porcelain'], ws);
    assert.equal(st.status, 0, `host git works: ${st.stderr}`);
    assert.match(st.stdout, /^A {2}a\.txt$/m);
    assert.equal(fs.existsSync(path.join(ws, 'pwned')), false, 'the planted config never ran');
  });
});
