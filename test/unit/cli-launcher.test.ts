// The CLI launcher (dist/cli.js) and its V8 code cache: the cache is written on first use, used afterwards,
// replaced when it is corrupt or the bundle changes, and never changes what the CLI prints or its exit code, even
// when the cache cannot be written at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const dist = path.resolve(__dirname, '../../../dist');

/** A private copy of the launcher and the bundle, so each test owns its cache folder. */
function copyCli(): {
  dir: string;
  cacheDir: string;
  run(args: string[], env?: NodeJS.ProcessEnv): ReturnType<typeof spawnSync>;
} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-launcher-'));
  for (const f of ['cli.js', 'cli-main.js']) fs.copyFileSync(path.join(dist, f), path.join(dir, f));
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [path.join(dir, 'cli.js'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, AGENT_SANDBOX_CODE_CACHE: 'report', ...env },
    });
  return { dir, cacheDir: path.join(dir, '.code-cache'), run };
}

const PLAN = ['plan', '--platform', 'linux', '--workspace', '/home/dev/repo', '--json'];

function outcome(stderr: string | Buffer): string | undefined {
  return /code cache: (\w+)/.exec(String(stderr))?.[1];
}

test('launcher: first run writes the cache, later runs use it, and the output is the same with the cache off', (t) => {
  const cli = copyCli();
  t.after(() => fs.rmSync(cli.dir, { recursive: true, force: true }));
  const first = cli.run(PLAN);
  assert.equal(first.status, 0, String(first.stderr));
  assert.equal(outcome(first.stderr), 'miss');
  const files = fs.readdirSync(cli.cacheDir);
  assert.equal(files.length, 1, files.join(', '));
  assert.ok(fs.statSync(path.join(cli.cacheDir, files[0])).size > 10_000, 'the cache holds compiled code');
  const second = cli.run(PLAN);
  assert.equal(outcome(second.stderr), 'hit');
  assert.equal(second.stdout, first.stdout);
  fs.rmSync(cli.cacheDir, { recursive: true });
  const off = cli.run(PLAN, { AGENT_SANDBOX_CODE_CACHE: '0' });
  assert.equal(off.status, 0, String(off.stderr));
  assert.equal(off.stdout, first.stdout);
  assert.ok(!fs.existsSync(cli.cacheDir), 'AGENT_SANDBOX_CODE_CACHE=0 writes no cache');
});

test('launcher: a corrupt cache is rejected and rewritten; the command still runs and keeps its exit code', (t) => {
  const cli = copyCli();
  t.after(() => fs.rmSync(cli.dir, { recursive: true, force: true }));
  assert.equal(cli.run(PLAN).status, 0);
  const file = path.join(cli.cacheDir, fs.readdirSync(cli.cacheDir)[0]);
  fs.writeFileSync(file, Buffer.alloc(4096, 0x41));
  const bad = cli.run(['plan', '--platform', 'darwin']);
  assert.equal(outcome(bad.stderr), 'rejected');
  assert.equal(bad.status, 2, String(bad.stderr));
  assert.match(String(bad.stderr), /--platform must be "linux" or "win32"/);
  assert.notEqual(fs.readFileSync(file)[0], 0x41, 'the corrupt cache was replaced');
  assert.equal(outcome(cli.run(PLAN).stderr), 'hit');
});

test('launcher: each subcommand keeps its own cache (a --help run does not fill the cache a run uses)', (t) => {
  const cli = copyCli();
  t.after(() => fs.rmSync(cli.dir, { recursive: true, force: true }));
  assert.equal(outcome(cli.run(['--help']).stderr), 'miss');
  assert.equal(outcome(cli.run(PLAN).stderr), 'miss', 'plan has no cache yet');
  assert.equal(outcome(cli.run(PLAN).stderr), 'hit');
  assert.equal(outcome(cli.run(['--help']).stderr), 'hit');
  const names = fs
    .readdirSync(cli.cacheDir)
    .map((f) => f.split('.')[3])
    .sort();
  assert.deepEqual(names, ['other', 'plan']);
});

test('launcher: a changed bundle never meets the old cache, and the old cache file is removed', (t) => {
  const cli = copyCli();
  t.after(() => fs.rmSync(cli.dir, { recursive: true, force: true }));
  assert.equal(cli.run(PLAN).status, 0);
  const before = fs.readdirSync(cli.cacheDir);
  // same length as before would fool V8's own check (it compares source lengths), so keep the length
  const main = path.join(cli.dir, 'cli-main.js');
  const src = fs.readFileSync(main, 'utf8');
  const i = src.lastIndexOf('Print the compiled sandbox plan');
  fs.writeFileSync(main, src.slice(0, i) + 'PRINT' + src.slice(i + 5));
  const changed = cli.run(['--help']);
  assert.equal(outcome(changed.stderr), 'miss');
  assert.match(String(changed.stdout), /PRINT the compiled sandbox plan/);
  const after = fs.readdirSync(cli.cacheDir);
  assert.equal(after.length, 1);
  assert.notDeepEqual(after, before);
});

test('launcher: when the cache cannot be written the CLI works the same, uncached', (t) => {
  const cli = copyCli();
  t.after(() => fs.rmSync(cli.dir, { recursive: true, force: true }));
  fs.writeFileSync(cli.cacheDir, 'a file where the cache folder would go');
  for (let i = 0; i < 2; i++) {
    const r = cli.run(PLAN);
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(outcome(r.stderr), 'miss');
    assert.equal(JSON.parse(String(r.stdout)).platform, 'linux');
  }
});

test("launcher: another runtime's cache of the same bundle stays; a stale bundle's cache goes", (t) => {
  const cli = copyCli();
  t.after(() => fs.rmSync(cli.dir, { recursive: true, force: true }));
  assert.equal(cli.run(PLAN).status, 0);
  const [mine] = fs.readdirSync(cli.cacheDir);
  const parts = mine.split('.');
  const otherRuntime = [parts[0], parts[1], 'e1ec7e0e1ec7e0e1', parts[3], 'bin'].join('.');
  const staleBundle = [parts[0], '0000000000000000', parts[2], parts[3], 'bin'].join('.');
  fs.writeFileSync(path.join(cli.cacheDir, otherRuntime), 'electron');
  fs.writeFileSync(path.join(cli.cacheDir, staleBundle), 'old');
  fs.rmSync(path.join(cli.cacheDir, mine));
  assert.equal(outcome(cli.run(PLAN).stderr), 'miss');
  assert.deepEqual(fs.readdirSync(cli.cacheDir).sort(), [mine, otherRuntime].sort());
});

test('launcher: carries no Win32 bindings; on win32 it takes the pipe channel from the CLI bundle, which exports it', () => {
  const launcher = fs.readFileSync(path.join(dist, 'cli.js'), 'utf8');
  for (const win32 of ['GetNamedPipeServerProcessId', 'CreateNamedPipeW', 'OpenProcessToken'])
    assert.ok(!launcher.includes(win32), `${win32} is not in the launcher every Linux run loads`);
  assert.match(launcher, /require\("\.\/cli-main\.js"\)\.pipeChannel/);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bundle = require(path.join(dist, 'cli-main.js')) as { pipeChannel?: { listen: unknown; connect: unknown } };
  assert.equal(typeof bundle.pipeChannel?.connect, 'function');
  assert.equal(typeof bundle.pipeChannel?.listen, 'function');
});
