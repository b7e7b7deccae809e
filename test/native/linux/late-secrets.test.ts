/**
 * Linux sandbox, credential locations that do not exist yet (issue 12 §1): a `denyRead` entry missing when the plan
 * was made (`~/.aws` before the first `aws configure`) cannot be hidden by a mount, so the guard watches for it
 * (its folder, or while that is missing too, the nearest existing ancestor) and stops the sandbox when it appears;
 * a later sandbox started from the same plan (a broker restarted after that stop, a plan kept between commands)
 * hides it at launch. Judged by what the sandbox printed, in a test home, for each kind of entry: a folder, a file,
 * and each of them under a parent folder that is missing too. Controls: the guard and the read rules below off (the
 * running sandbox reads the secret), and the entry left out of the plan (the next sandbox reads it).
 *
 * The guard reacts after the fact: a command reading in a tight loop would read the secret first. So Landlock also
 * denies reads of entries created after the sandbox started in the folders leading to each credential location
 * (the home, `~/.config` ...): the tight-loop case reads nothing. Control: the read rules off (the runner is not
 * sent `denyRead`), the same loop reads the secret. Existing files there, the workspace, /etc, /usr, node, git and
 * sh stay usable. An existing folder the host renames to a credential name is another matter: Landlock's grant
 * follows its inode, so the guard's stop is what protects it (control: the guard off, it is read).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { compilePlan, type LinuxPlan } from '../../../src/policy';
import { hostContext } from '../../../src/sandbox/host';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { linuxEnforcement } from '../../../src/sandbox/linux/enforcement';
import { MountGuard } from '../../../src/sandbox/linux/guard';
import * as launch from '../../../src/sandbox/linux/launch';
import * as chainWatch from '../../../src/sandbox/linux/read-chain-watch';
import type { SandboxBackend } from '../../../src/sandbox/types';
import { coldBackend, hostDir, NODE, run, sh, STATE_DIR, tempDir, type Result } from './helpers';

const cold = coldBackend();
after(() => cold.dispose());

/** Entries of the default denyRead, by kind: where the secret is written, relative to the home. */
const KINDS: { kind: string; entry: string; secret: string }[] = [
  { kind: 'a folder', entry: '.aws', secret: '.aws/credentials' },
  { kind: 'a file', entry: '.npmrc', secret: '.npmrc' },
  { kind: 'a folder whose parent is missing too', entry: '.config/gcloud', secret: '.config/gcloud/credentials.db' },
  {
    kind: 'a file whose parent is missing too',
    entry: '.terraform.d/credentials.tfrc.json',
    secret: '.terraform.d/credentials.tfrc.json',
  },
];

const TRIGGER = '.as-host-wrote';

function homePlan(home: string): LinuxPlan {
  const p = compilePlan(
    { workspaceRoots: [tempDir('as-late-secret-ws-')] },
    hostContext({ platform: 'linux', stateDir: STATE_DIR, home, env: { ...process.env, HOME: home } }),
  );
  if (p.platform !== 'linux') throw new Error('expected a linux plan');
  return p;
}

/** The host writes the secret from another process, as `aws configure` would: folders and file in one go. */
function hostWrites(file: string): Promise<void> {
  return new Promise((resolve, reject) =>
    spawn('sh', ['-c', 'mkdir -p "$(dirname "$0")" && printf "SECRET-%s\\n" "$$" > "$0"', file])
      .on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`host write failed: ${code}`))))
      .on('error', reject),
  );
}

/**
 * A command that waits for the host's trigger, then 300 ms (past the guard's reaction, as the whole-life tests
 * do), then reads `file` every 20 ms for 1 s, printing what it read.
 */
const reader = (file: string) =>
  sh(
    `while [ ! -e ${TRIGGER} ]; do sleep 0.01; done; sleep 0.3; ` +
      `i=0; while [ $i -lt 50 ]; do cat '${file}' 2>/dev/null; sleep 0.02; i=$((i+1)); done; echo done`,
  );

async function midRun(b: SandboxBackend, p: LinuxPlan, file: string): Promise<Result> {
  const pending = run(b, p, reader(file));
  await new Promise((r) => setTimeout(r, 800));
  await hostWrites(file);
  fs.writeFileSync(path.join(p.workspaceRoots[0], TRIGGER), '');
  return pending;
}

async function withoutGuard<T>(fn: () => Promise<T>): Promise<T> {
  const changed = Object.getOwnPropertyDescriptor(MountGuard.prototype, 'changed')!;
  MountGuard.prototype.changed = () => undefined;
  try {
    return await fn();
  } finally {
    Object.defineProperty(MountGuard.prototype, 'changed', changed);
  }
}

describe('linux sandbox: a credential location created on the host while a sandbox runs', () => {
  for (const mode of ['cold', 'broker'] as const) {
    for (const { kind, entry, secret } of KINDS) {
      it(`${mode}, ${kind} (~/${entry}): the running sandbox is stopped before it reads the secret, and the next sandbox of the same plan cannot read it (controls: guard and read rules off, entry not in the plan)`, async () => {
        const b = mode === 'cold' ? cold : createLinuxBackend({ stateDir: STATE_DIR, broker: true });
        try {
          const home = hostDir('as-late-home-');
          const p = homePlan(home);
          const file = path.join(home, secret);
          assert.ok(p.denyRead.includes(path.join(home, entry)), `~/${entry} is in the default denyRead`);
          assert.ok(!fs.existsSync(path.join(home, entry.split('/')[0])), 'missing when the plan was made');

          const r = await midRun(b, p, file);
          assert.doesNotMatch(r.stdout, /SECRET/, 'the running sandbox read the new secret');
          assert.equal(r.code, 125, `${r.stdout} ${r.stderr}`);
          assert.match(r.stopped ?? '', new RegExp(`${path.join(home, entry)} was replaced on the host`));

          const next = await run(b, p, sh(`cat '${file}'; echo done`));
          assert.doesNotMatch(next.stdout, /SECRET/, 'a later sandbox of the same plan read it');
          assert.match(next.stdout, /done/, `${next.stdout} ${next.stderr} ${next.stopped}`);
          const shown = { ...p, denyRead: p.denyRead.filter((d) => d !== path.join(home, entry)) };
          const c = await run(b, shown, sh(`cat '${file}'`));
          assert.match(c.stdout, /SECRET/, `control: with the entry out of the plan it is read (${c.stderr})`);

          const home2 = hostDir('as-late-home-');
          const p2 = homePlan(home2);
          const c2 = await withoutGuard(() => withoutReadRules(() => midRun(b, p2, path.join(home2, secret))));
          assert.match(
            c2.stdout,
            /SECRET/,
            `control: without the guard and the read rules the running sandbox reads it (${c2.stderr})`,
          );
        } finally {
          if (b !== cold) await b.dispose();
        }
      });
    }
  }
});

describe('linux sandbox: an existing folder the host renames to a credential name while a sandbox runs', () => {
  for (const mode of ['cold', 'broker'] as const) {
    it(`${mode}: \`mv ~/notes ~/.aws\` stops the running sandbox before it reads the file through ~/.aws, and the next sandbox of the same plan cannot read it (control: with the guard off the running sandbox reads it, as Landlock's grant follows the renamed folder)`, async () => {
      const b = mode === 'cold' ? cold : createLinuxBackend({ stateDir: STATE_DIR, broker: true });
      const renamed = async (guarded: boolean) => {
        const home = hostDir('as-mv-home-');
        fs.mkdirSync(path.join(home, 'notes'));
        fs.writeFileSync(path.join(home, 'notes', 'credentials'), 'SECRET-moved\n');
        const p = homePlan(home);
        assert.ok(p.denyRead.includes(path.join(home, '.aws')), '~/.aws is in the default denyRead');
        assert.ok(!fs.existsSync(path.join(home, '.aws')), 'missing when the plan was made');
        const file = path.join(home, '.aws', 'credentials');
        const go = async () => {
          const pending = run(b, p, reader(file));
          await new Promise((r) => setTimeout(r, 800));
          fs.renameSync(path.join(home, 'notes'), path.join(home, '.aws'));
          fs.writeFileSync(path.join(p.workspaceRoots[0], TRIGGER), '');
          return pending;
        };
        return { r: await (guarded ? go() : withoutGuard(go)), p, file };
      };
      try {
        const { r, p, file } = await renamed(true);
        assert.doesNotMatch(r.stdout, /SECRET/, 'the running sandbox read the renamed folder');
        assert.equal(r.code, 125, `${r.stdout} ${r.stderr}`);
        assert.match(r.stopped ?? '', /\.aws was replaced on the host/);
        const next = await run(b, p, sh(`cat '${file}'; echo done`));
        assert.doesNotMatch(next.stdout, /SECRET/, 'a later sandbox of the same plan read it');
        assert.match(next.stdout, /done/, `${next.stdout} ${next.stderr} ${next.stopped}`);
        const c = await renamed(false);
        assert.match(c.r.stdout, /SECRET-moved/, `control: without the guard it is read (${c.r.stderr})`);
      } finally {
        if (b !== cold) await b.dispose();
      }
    });
  }
});

const READING = '.as-reading';

/**
 * A command that reads `file` as fast as `cat` can be started, from before the host writes it until well after
 * (the host's trigger, then 200 more reads), printing whatever it read.
 */
const tightReader = (file: string) =>
  sh(
    `touch ${READING}; while [ ! -e ${TRIGGER} ]; do cat '${file}' 2>/dev/null; done; ` +
      `i=0; while [ $i -lt 200 ]; do cat '${file}' 2>/dev/null; i=$((i+1)); done; echo done`,
  );

/** The host writes the secret (folders and file in one go) while the command is in its tight loop. */
async function tightRace(b: SandboxBackend, p: LinuxPlan, file: string): Promise<Result> {
  let ended = false;
  const pending = run(b, p, tightReader(file)).finally(() => (ended = true));
  pending.catch(() => undefined); // awaited below: a sandbox that failed to start must not fail a later test
  const ws = p.workspaceRoots[0];
  for (let i = 0; i < 1000 && !ended && !fs.existsSync(path.join(ws, READING)); i++)
    await new Promise((r) => setTimeout(r, 10));
  if (!fs.existsSync(path.join(ws, READING))) {
    const r = await pending;
    throw new Error(`the reader never started: ${r.code} ${r.stderr} ${r.stopped ?? ''}`);
  }
  await new Promise((r) => setTimeout(r, 50));
  await hostWrites(file);
  fs.writeFileSync(path.join(ws, TRIGGER), '');
  return pending;
}

/** The weakening for the controls: the runner is not told the credential locations, so reads stay unrestricted. */
async function withoutReadRules<T>(fn: () => Promise<T>): Promise<T> {
  const mod = launch as { runnerSandbox: typeof launch.runnerSandbox };
  const real = mod.runnerSandbox;
  mod.runnerSandbox = (plan) => ({ ...real(plan), denyRead: [] });
  try {
    return await fn();
  } finally {
    mod.runnerSandbox = real;
  }
}

const TRIES = 10;

describe('linux sandbox: a credential created on the host while a sandbox reads it in a tight loop', () => {
  for (const mode of ['cold', 'broker'] as const) {
    it(`${mode}: nothing is read in ${TRIES} of ${TRIES} tries (control: with the read rules off it is read at least once)`, async () => {
      const b = mode === 'cold' ? cold : createLinuxBackend({ stateDir: STATE_DIR, broker: true });
      const race = async (weak: boolean) => {
        const read: string[] = [];
        for (let i = 0; i < TRIES; i++) {
          const { entry, secret } = KINDS[i % KINDS.length];
          const home = hostDir('as-tight-home-');
          const p = homePlan(home);
          assert.ok(p.denyRead.includes(path.join(home, entry)), `~/${entry} is in the default denyRead`);
          const r = await (weak
            ? withoutReadRules(() => tightRace(b, p, path.join(home, secret)))
            : tightRace(b, p, path.join(home, secret)));
          if (/SECRET/.test(r.stdout)) read.push(`~/${secret}`);
        }
        return read;
      };
      try {
        assert.deepEqual(await race(false), [], 'the running sandbox read a secret created mid-run');
        const weak = await race(true);
        assert.ok(weak.length > 0, 'control: without the read rules the tight loop reads the secret');
      } finally {
        if (b !== cold) await b.dispose();
      }
    });
  }

  it('what existed at start stays readable and executable: the home, ~/.config/other, the workspace, /etc, /usr, node, git, sh; the runner says where new entries are unreadable', async () => {
    const home = hostDir('as-tight-home-');
    fs.writeFileSync(path.join(home, '.profile'), 'PUBLIC-PROFILE\n');
    fs.mkdirSync(path.join(home, '.config', 'other'), { recursive: true });
    fs.writeFileSync(path.join(home, '.config', 'other', 'conf'), 'PUBLIC-CONFIG\n');
    fs.mkdirSync(path.join(home, 'bin'));
    fs.writeFileSync(path.join(home, 'bin', 'tool'), '#!/bin/sh\necho PUBLIC-TOOL\n', { mode: 0o755 });
    const p = homePlan(home);
    const ws = p.workspaceRoots[0];
    fs.writeFileSync(path.join(ws, 'in-ws'), 'PUBLIC-WS\n');
    const proc = await cold.spawn(p, {
      argv: sh(
        `cat ~/.profile ~/.config/other/conf in-ws && ls ~/.config && '${home}/bin/tool' && head -c0 /etc/passwd && ` +
          `ls /usr/bin >/dev/null && echo made > new && cat new && '${NODE}' -e "console.log('NODE-OK')" && ` +
          `git --version && echo SH-OK`,
      ),
      cwd: ws,
      stdio: 'pipe',
      env: { ...process.env, HOME: home },
    });
    let out = '';
    let err = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const exit = await proc.exited;
    assert.equal(exit.code, 0, `${out} ${err}`);
    for (const m of [
      'PUBLIC-PROFILE',
      'PUBLIC-CONFIG',
      'PUBLIC-WS',
      'other',
      'PUBLIC-TOOL',
      'made',
      'NODE-OK',
      'git version',
      'SH-OK',
    ])
      assert.match(out, new RegExp(m), `${m} missing: ${out} ${err}`);
    const note = proc.enforcement.notes.find((n) => /reads of entries created after start denied/.test(n));
    assert.ok(note?.includes(`${home},`) || note?.endsWith(home), `${proc.enforcement.notes.join('\n')}`);
    assert.ok(note?.includes(path.join(home, '.config')), note);
    const preview = linuxEnforcement(p).notes.join('\n');
    assert.match(preview, /reads of entries created after start denied/, `the preview says so too: ${preview}`);
  });

  it('a file the host creates mid-run directly in the home (not a credential) is unreadable too: hiding by default (control: one created before start is read)', async () => {
    const home = hostDir('as-tight-home-');
    fs.writeFileSync(path.join(home, 'before'), 'BEFORE\n');
    const p = homePlan(home);
    const r = await tightRace(cold, p, path.join(home, 'after'));
    assert.doesNotMatch(r.stdout, /SECRET/, 'a new entry in the home was read');
    assert.match(r.stdout, /done/, `${r.stdout} ${r.stderr} ${r.stopped}`);
    const c = await run(cold, p, sh(`cat '${home}/before'`));
    assert.match(c.stdout, /BEFORE/, `control: ${c.stderr}`);
  });
});

describe('linux sandbox: the read rules alone, with the guard off (a command with all the time it wants)', () => {
  it('a credential created mid-run cannot be read directly, through /proc/self/root, or by linking, copying or moving it into the workspace (control: read rules off, it is read)', async () => {
    const attempt = async () => {
      const home = hostDir('as-tight-home-');
      const ws = path.join(home, 'ws'); // same filesystem as the secret, so a hard link is possible
      fs.mkdirSync(ws);
      const p = compilePlan(
        { workspaceRoots: [ws] },
        hostContext({ platform: 'linux', stateDir: STATE_DIR, home, env: { ...process.env, HOME: home } }),
      ) as LinuxPlan;
      const file = path.join(home, '.aws', 'credentials');
      const cmd = sh(
        `while [ ! -e '${file}' ]; do sleep 0.01; done; sleep 0.2; cat '${file}' /proc/self/root'${file}'; ` +
          `ln '${file}' linked; cat linked; cp '${file}' copied; cat copied; mv '${path.dirname(file)}' moved; ` +
          `cat moved/credentials; echo done`,
      );
      const pending = run(cold, p, cmd, { cwd: ws });
      await new Promise((r) => setTimeout(r, 800));
      await hostWrites(file);
      const r = await pending;
      const carried = (fs.readdirSync(ws, { recursive: true }) as string[])
        .map((f) => path.join(ws, f))
        .filter((f) => fs.statSync(f).isFile() && /SECRET/.test(fs.readFileSync(f, 'utf8')));
      return { r, leaked: /SECRET/.test(r.stdout) || carried.length > 0 };
    };
    const { r, leaked } = await withoutGuard(attempt);
    assert.match(r.stdout, /done/, `${r.stdout} ${r.stderr} ${r.stopped}`);
    assert.ok(!leaked, `the secret was read or carried into the workspace: ${r.stdout} ${r.stderr}`);
    const c = await withoutGuard(() => withoutReadRules(attempt));
    assert.ok(c.leaked, `control: without the read rules it is read (${c.r.stdout} ${c.r.stderr})`);
  });
});

describe('linux sandbox: a broker whose read rules predate a change in the home', () => {
  /**
   * A host `git config --global` replaces ~/.gitconfig by rename: the runner's read rules (made when the broker
   * started) do not cover the new file, so a broker kept across it would read nothing there for the rest of the
   * session. The broker compares the home's entries before each command and is retired when they changed.
   */
  const replaceGitconfig = (home: string, text: string) => {
    const tmp = path.join(home, '.gitconfig.lock');
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, path.join(home, '.gitconfig'));
  };
  const readTwice = async (b: SandboxBackend) => {
    const home = hostDir('as-chain-home-');
    fs.writeFileSync(path.join(home, '.gitconfig'), '[user]\n\tname = BEFORE\n');
    const p = homePlan(home);
    const env = { ...process.env, HOME: home };
    const first = await run(b, p, sh(`cat ~/.gitconfig`), { env });
    assert.match(first.stdout, /BEFORE/, `${first.stdout} ${first.stderr}`);
    const long = run(b, p, sh(`sleep 2; echo LONG-OK`), { env });
    await new Promise((r) => setTimeout(r, 500));
    replaceGitconfig(home, '[user]\n\tname = AFTER\n');
    const next = await run(b, p, sh(`cat ~/.gitconfig; echo done`), { env });
    // nothing breached: a command already running in the retired broker runs to its end
    const l = await long;
    assert.equal(l.code, 0, `${l.stdout} ${l.stderr} ${l.stopped}`);
    assert.match(l.stdout, /LONG-OK/);
    return next;
  };

  it('the next brokered command reads a ~/.gitconfig the host replaced (the broker is retired and a new one started; control: without the check it cannot)', async () => {
    const b = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    try {
      const next = await readTwice(b);
      assert.match(next.stdout, /AFTER/, `${next.stdout} ${next.stderr} ${next.stopped}`);
    } finally {
      await b.dispose();
    }
    const c = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
    const change = chainWatch.readChainChange;
    (chainWatch as { readChainChange: typeof change }).readChainChange = () => undefined;
    try {
      const next = await readTwice(c);
      assert.doesNotMatch(next.stdout, /AFTER/, `control: the old broker's rules deny the new file (${next.stderr})`);
      assert.match(next.stdout, /done/, `${next.stdout} ${next.stderr} ${next.stopped}`);
    } finally {
      (chainWatch as { readChainChange: typeof change }).readChainChange = change;
      await c.dispose();
    }
  });
});
