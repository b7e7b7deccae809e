// Builds one platform-specific .vsix per target with @vscode/vsce. Each target is staged in its own folder with the
// bundles and koffi plus only that target's prebuild (`@koromix/koffi-<target>`), fetched from the npm registry
// with `npm pack` when it is not installed. Prints each vsix's size.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const targets = (process.env.AGENT_SANDBOX_TARGETS ?? 'win32-x64,win32-arm64,linux-x64,linux-arm64').split(',');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const koffiVersion = JSON.parse(fs.readFileSync(path.join(root, 'node_modules/koffi/package.json'), 'utf8')).version;
const stageBase = path.join(root, '.package');
const cache = path.join(stageBase, 'cache');
const outDir = path.join(root, 'artifacts', 'vsix');

const npmCmd = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

function copy(from, to) {
  fs.cpSync(from, to, { recursive: true, dereference: true });
}

/** The prebuild package folder for a target: installed copy, or unpacked from the registry tarball. */
function prebuildDir(target) {
  const name = `@koromix/koffi-${target}`;
  const installed = path.join(root, 'node_modules', name);
  if (fs.existsSync(path.join(installed, 'package.json'))) return installed;
  const dir = path.join(cache, `koffi-${target}-${koffiVersion}`);
  if (!fs.existsSync(path.join(dir, 'package.json'))) {
    fs.mkdirSync(cache, { recursive: true });
    const tgz = run(npmCmd, ['pack', '--silent', `${name}@${koffiVersion}`], cache)
      .trim()
      .split('\n')
      .pop();
    fs.mkdirSync(dir, { recursive: true });
    run('tar', ['-xzf', path.join(cache, tgz), '-C', dir, '--strip-components=1'], cache);
    fs.rmSync(path.join(cache, tgz));
  }
  return dir;
}

/** Fails the build when a package misses a bundle or carries sources, maps, or another platform's binaries. */
function checkContents(target, files) {
  const problems = [];
  for (const f of [
    'dist/extension.js',
    'dist/cli.js',
    'dist/agent-sandbox',
    'dist/cli-main.js',
    'dist/runner.js',
    'dist/runner-linux.js',
    'dist/runner-win32.js',
    'dist/probe.js',
    'dist/node-proxy.js',
    'dist/node-proxy-fetch.js',
    'dist/node-proxy-http.js',
    'node_modules/koffi/package.json',
    `node_modules/@koromix/koffi-${target}/package.json`,
  ]) {
    if (!files.includes(f)) problems.push(`missing ${f}`);
  }
  if (!files.some((f) => f.startsWith(`node_modules/@koromix/koffi-${target}/`) && f.endsWith('.node'))) {
    problems.push(`missing the ${target} koffi binary`);
  }
  for (const f of files) {
    if (f.startsWith('node_modules/@koromix/') && !f.startsWith(`node_modules/@koromix/koffi-${target}/`))
      problems.push(`foreign binary ${f}`);
    if (/\.(ts|map)$/.test(f) || /^(src|test|native-bindings|out)\//.test(f)) problems.push(`source file ${f}`);
    if (f.startsWith('dist/.code-cache/')) problems.push(`this machine's code cache ${f}`);
  }
  if (problems.length) throw new Error(`${target} package is wrong:\n  ${problems.join('\n  ')}`);
}

/** On the matching platform, the staged package must load koffi and run the CLI from its own folder. */
function smokeTest(stage) {
  const plan = run(process.execPath, [path.join(stage, 'dist/cli.js'), 'plan', '--json', '--workspace', stage], stage);
  if (!JSON.parse(plan).version) throw new Error('the packaged CLI did not print a plan');
  run(process.execPath, ['-e', 'require("koffi")'], stage);
}

run(process.execPath, [path.join(root, 'scripts/build.mjs')], root);
fs.mkdirSync(outDir, { recursive: true });
const results = [];
for (const target of targets) {
  const stage = path.join(stageBase, target);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  for (const f of ['dist', 'media', 'README.md', 'LICENSE', '.vscodeignore']) {
    if (fs.existsSync(path.join(root, f))) copy(path.join(root, f), path.join(stage, f));
  }
  // Everything but koffi is bundled into dist/ by esbuild, so koffi is the only runtime dependency shipped.
  const { devDependencies: _d, scripts: _s, ...manifest } = pkg;
  manifest.dependencies = { koffi: pkg.dependencies.koffi };
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(manifest, null, 2));
  copy(path.join(root, 'node_modules/koffi'), path.join(stage, 'node_modules/koffi'));
  copy(prebuildDir(target), path.join(stage, 'node_modules/@koromix', `koffi-${target}`));
  checkContents(target, run(path.join(root, 'node_modules/.bin/vsce'), ['ls'], stage).split('\n').filter(Boolean));
  if (target === `${process.platform}-${process.arch}`) smokeTest(stage);
  const out = path.join(outDir, `${pkg.name}-${target}-${pkg.version}.vsix`);
  run(
    path.join(root, 'node_modules/.bin/vsce'),
    ['package', '--target', target, '--allow-missing-repository', '--no-rewrite-relative-links', '--out', out],
    stage,
  );
  results.push({ target, file: path.relative(root, out), bytes: fs.statSync(out).size });
}
for (const r of results)
  console.log(`${r.target.padEnd(12)} ${(r.bytes / 1024).toFixed(0).padStart(6)} KiB  ${r.file}`);
fs.writeFileSync(path.join(outDir, 'sizes.json'), JSON.stringify(results, null, 2));
