/**
 * `agent-sandbox run` end to end on Linux, through the bundled dist/cli.js from a temp workspace: writes inside
 * work, outside fail, exit codes 124/125/own, a missing workspace runs nothing, missing bwrap fails closed with
 * the fix, and `--tty` keeps the terminal (job control) while TIOCSTI stays blocked.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { alive, CLI, eventually, hostDir, NODE, PROBE, REPO, STATE_DIR, tempDir } from './helpers';

// These runs are cold by design; the warm broker a run leaves behind has its own tests (warm.test.ts).
process.env.AGENT_SANDBOX_BROKER = '0';

function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(NODE, [CLI, 'run', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...env, AGENT_SANDBOX_STATE_DIR: STATE_DIR },
    timeout: 60_000,
  });
}

/** Runs `command` under a pseudo-terminal (util-linux `script`), as a terminal would. */
function underPty(command: string, cwd: string) {
  return spawnSync('script', ['-qec', command, '/dev/null'], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, AGENT_SANDBOX_STATE_DIR: STATE_DIR },
  });
}

describe('agent-sandbox run (CLI, linux)', () => {
  it('writes inside the workspace and is refused outside it', () => {
    const ws = tempDir('as-cli-');
    const outside = hostDir('as-cli-out-');
    const r = cli(['--', 'sh', '-c', `echo ok > inside.txt && echo no > '${outside}/x'`], ws);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Read-only file system/);
    assert.equal(fs.readFileSync(path.join(ws, 'inside.txt'), 'utf8'), 'ok\n');
    assert.equal(fs.existsSync(path.join(outside, 'x')), false);
    assert.equal(cli(['--', 'sh', '-c', 'exit 9'], ws).status, 9);
  });

  it('--timeout kills the command and exits 124', () => {
    const ws = tempDir('as-cli-');
    const r = cli(['--timeout', '1', '--', 'sh', '-c', 'echo start; sleep 304; echo never > late'], ws);
    assert.equal(r.status, 124);
    assert.match(r.stdout, /start/);
    assert.match(r.stderr, /timed out/);
    assert.equal(fs.existsSync(path.join(ws, 'late')), false);
  });

  it('when the CLI itself is killed, the whole sandboxed tree dies with it (daemons included)', async () => {
    const ws = tempDir('as-cli-');
    const cliProc = spawn(
      NODE,
      [CLI, 'run', '--', 'sh', '-c', `setsid sh -c 'echo $$ > daemon; exec sleep 305' & echo up; wait`],
      { cwd: ws, env: { ...process.env, AGENT_SANDBOX_STATE_DIR: STATE_DIR }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((res) => cliProc.stdout.on('data', (d: Buffer) => d.toString().includes('up') && res()));
    assert.ok(await eventually(() => fs.existsSync(path.join(ws, 'daemon'))));
    const sleepers = () =>
      fs.readdirSync('/proc').filter(
        (e) =>
          /^\d+$/.test(e) &&
          alive(Number(e)) &&
          (() => {
            try {
              return fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').startsWith('sleep\u0000305');
            } catch {
              return false;
            }
          })(),
      );
    assert.ok(await eventually(() => sleepers().length > 0), 'control: the daemon was running');
    cliProc.kill('SIGKILL');
    assert.ok(await eventually(() => sleepers().length === 0), 'the daemon survived its caller');
  });

  it("the runner starts without the caller's NODE_EXTRA_CA_CERTS and NODE_OPTIONS; the command still gets them (control)", async () => {
    const ws = tempDir('as-cli-');
    const mark = `AS_MARK_${process.pid}_${Date.now()}`;
    const env = {
      ...process.env,
      AGENT_SANDBOX_STATE_DIR: STATE_DIR,
      NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt',
      NODE_OPTIONS: '--max-old-space-size=4000',
      [mark]: '1',
    };
    const cliProc = spawn(NODE, [CLI, 'run', '--', 'sh', '-c', 'echo "ca=$NODE_EXTRA_CA_CERTS"; exec sleep 306'], {
      cwd: ws,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let out = '';
      await new Promise<void>((res) =>
        cliProc.stdout.on('data', (d: Buffer) => (out += d.toString()).includes('\n') && res()),
      );
      assert.equal(out, 'ca=/etc/ssl/certs/ca-certificates.crt\n', "the command got the caller's variable");
      const environ = (pid: string) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      // the sandboxed command is the `sleep` carrying the mark (the CLI carries it too); the runner is its parent
      let command: string | undefined;
      assert.ok(
        await eventually(() => {
          command = fs.readdirSync('/proc').find((e) => {
            try {
              const cmdline = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
              return /^\d+$/.test(e) && cmdline.startsWith('sleep\0' + '306') && environ(e).includes(`${mark}=1`);
            } catch {
              return false;
            }
          });
          return command !== undefined;
        }),
        'the command is running',
      );
      assert.ok(environ(command!).includes('NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'), 'control');
      const runner = /^\d+ \(.*\) \S (\d+)/.exec(fs.readFileSync(`/proc/${command}/stat`, 'utf8'))![1];
      assert.match(fs.readFileSync(`/proc/${runner}/cmdline`, 'utf8'), /runner\.js/, 'its parent is the runner');
      const runnerEnv = environ(runner).filter(Boolean);
      assert.ok(!runnerEnv.some((v) => /^(NODE_EXTRA_CA_CERTS|NODE_OPTIONS)=/.test(v)), runnerEnv.join(' '));
      assert.ok(!runnerEnv.includes(`${mark}=1`), "none of the caller's variables");
    } finally {
      cliProc.kill('SIGINT');
    }
  });

  it('a missing workspace exits 125 and nothing runs', () => {
    const ws = tempDir('as-cli-');
    const r = cli(['--workspace', path.join(ws, 'does-not-exist'), '--', 'sh', '-c', 'echo ran > ran.txt'], ws);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /does not exist/);
    assert.equal(fs.existsSync(path.join(ws, 'ran.txt')), false);
  });

  it('without bubblewrap it exits 125 with the install fix, and nothing runs', () => {
    const ws = tempDir('as-cli-');
    const r = cli(['--', 'sh', '-c', 'echo ran > ran.txt'], ws, {
      ...process.env,
      AGENT_SANDBOX_BWRAP: '/nonexistent/bwrap',
    });
    assert.equal(r.status, 125);
    assert.match(r.stderr, /apt-get install bubblewrap/);
    assert.equal(fs.existsSync(path.join(ws, 'ran.txt')), false);
  });

  it("a bwrap planted on PATH (say in the workspace's .venv/bin) is never run; one others could replace is refused with the fix", () => {
    const ws = tempDir('as-cli-');
    const bin = path.join(ws, '.venv', 'bin');
    fs.mkdirSync(bin, { recursive: true });
    const planted = path.join(bin, 'bwrap');
    fs.writeFileSync(planted, `#!/bin/sh\necho planted > '${ws}/planted.txt'\n`, { mode: 0o755 });
    const onPath = cli(['--', 'sh', '-c', 'echo ran > ran.txt'], ws, {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
    });
    assert.equal(onPath.status, 0, onPath.stderr);
    assert.equal(fs.existsSync(path.join(ws, 'planted.txt')), false, 'the planted bwrap never ran');
    fs.chmodSync(bin, 0o777);
    const named = cli(['--', 'sh', '-c', 'echo ran > ran2.txt'], ws, { ...process.env, AGENT_SANDBOX_BWRAP: planted });
    assert.equal(named.status, 125);
    assert.match(
      named.stderr,
      /was not used as bubblewrap: .*(not owned by root|can be changed by users other than root)/,
    );
    assert.equal(fs.existsSync(path.join(ws, 'planted.txt')), false);
    assert.equal(fs.existsSync(path.join(ws, 'ran2.txt')), false);
  });

  it(
    "a bwrap that cannot create namespaces (as under Ubuntu 24.04's AppArmor rule) fails closed with the fix (needs root to make a root-owned stand-in)",
    { skip: process.getuid?.() !== 0 && 'a stand-in bwrap only root can change needs root' },
    () => {
      const ws = tempDir('as-cli-');
      const dir = fs.mkdtempSync('/var/tmp/as-bwrap-');
      try {
        const fake = path.join(dir, 'bwrap');
        fs.writeFileSync(fake, '#!/bin/sh\necho "bwrap: setting up uid map: Permission denied" >&2\nexit 1\n', {
          mode: 0o755,
        });
        const r = cli(['--', 'sh', '-c', 'echo ran > ran.txt'], ws, { ...process.env, AGENT_SANDBOX_BWRAP: fake });
        assert.equal(r.status, 125, r.stderr);
        assert.match(r.stderr, /uid map: Permission denied/);
        assert.match(r.stderr, /sysctl|AppArmor|user namespaces/i);
        assert.equal(fs.existsSync(path.join(ws, 'ran.txt')), false);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('--tty: an interactive shell keeps the terminal with job control; TIOCSTI is denied (control: allowed outside)', () => {
    const ws = tempDir('as-cli-');
    const inner = `set -o | grep -q 'monitor.*on' && echo JOBCTL-ON; sleep 0.1 & jobs; wait; ${NODE} ${PROBE} tiocsti`;
    const r = underPty(`${NODE} ${CLI} run --tty -- bash --norc -i -c "${inner}"`, ws);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /JOBCTL-ON/);
    assert.match(r.stdout, /\[1\]/);
    assert.match(r.stdout, /DENIED ioctl failed: EPERM/);
    const control = underPty(`${NODE} ${PROBE} tiocsti`, ws);
    assert.doesNotMatch(control.stdout, /EPERM/, 'outside the sandbox TIOCSTI is not blocked by seccomp');
  });

  it('without --tty the command has no controlling terminal (new session); with --tty it has', () => {
    const ws = tempDir('as-cli-');
    const probe = `sh -c "( exec 3</dev/tty ) 2>/dev/null && echo HAS-TTY || echo NO-TTY"`;
    assert.match(underPty(`${NODE} ${CLI} run -- ${probe}`, ws).stdout, /NO-TTY/);
    assert.match(underPty(`${NODE} ${CLI} run --tty -- ${probe}`, ws).stdout, /HAS-TTY/);
  });
});

describe('agent-sandbox installed inside the workspace (a project devDependency)', () => {
  it("its bundles, koffi and koffi's native prebuild stay read-only to sandboxed commands, the rest of the workspace stays writable", () => {
    const ws = tempDir('as-dep-');
    const pkg = path.join(ws, 'node_modules', 'agent-sandbox');
    fs.mkdirSync(pkg, { recursive: true });
    fs.cpSync(path.join(REPO, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    fs.copyFileSync(path.join(REPO, 'package.json'), path.join(pkg, 'package.json'));
    for (const dep of ['koffi', '@koromix']) {
      fs.cpSync(path.join(REPO, 'node_modules', dep), path.join(ws, 'node_modules', dep), {
        recursive: true,
        dereference: true,
      });
    }
    const r = spawnSync(
      NODE,
      [
        path.join(pkg, 'dist', 'cli.js'),
        'run',
        '--',
        'sh',
        '-c',
        'echo x > node_modules/agent-sandbox/dist/cli-main.js; echo x > node_modules/koffi/index.cjs; ' +
          `echo x > node_modules/@koromix/koffi-${process.platform}-${process.arch}/${process.platform}_${process.arch}/koffi.node; echo ok > mine.txt`,
      ],
      { cwd: ws, encoding: 'utf8', env: { ...process.env, AGENT_SANDBOX_STATE_DIR: STATE_DIR }, timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal((r.stderr.match(/Read-only file system/g) ?? []).length, 3, r.stderr);
    const prebuild = path.join(
      ws,
      'node_modules',
      '@koromix',
      `koffi-${process.platform}-${process.arch}`,
      `${process.platform}_${process.arch}`,
      'koffi.node',
    );
    assert.notEqual(fs.readFileSync(prebuild, 'utf8').slice(0, 2), 'x\n', "koffi's native prebuild is sealed too");
    assert.notEqual(fs.readFileSync(path.join(pkg, 'dist', 'cli-main.js'), 'utf8'), 'x\n');
    assert.notEqual(fs.readFileSync(path.join(ws, 'node_modules', 'koffi', 'index.cjs'), 'utf8'), 'x\n');
    assert.equal(fs.readFileSync(path.join(ws, 'mine.txt'), 'utf8'), 'ok\n');
  });
});
