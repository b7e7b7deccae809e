/**
 * `dist/cli.js`: the CLI's entry. It loads the CLI bundle (`dist/cli-main.js`) with a V8 code cache, because
 * compiling the bundle is a large part of a cold `agent-sandbox run` (about 15 ms of every command here) and Node
 * before 22.1 has no built-in compile cache (`module.enableCompileCache`).
 *
 * The cache is kept beside the bundle (`dist/.code-cache/`), so it is exactly as trusted as the bundle itself:
 * whoever can write it could already rewrite `cli-main.js`. Where that folder cannot be written (a read-only
 * global install) the bundle simply loads without a cache. Each cache file is named by a hash of the bundle's
 * bytes and of the runtime, so a rebuilt bundle or another Node never meets a stale cache (V8 itself only checks
 * the source length), and anything unexpected falls back to a plain `require`: the cache can make the CLI faster,
 * never make it fail. `AGENT_SANDBOX_CODE_CACHE=0` turns it off; `=report` says on stderr what happened.
 *
 * Before any of that, a `run` is offered to this user's warm broker (warm/client.ts), which needs no bundle at all.
 *
 * No imports beyond Node's own and the warm client: this file must stay tiny.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import Module from 'node:module';
import { restoreCallerEnv } from './caller-env';
import { runWarm } from './warm/client';
import { writeFileAtomic } from '../state-file';

interface CliBundle {
  runAsProcess(argv: string[]): void;
}

type CacheOutcome = 'off' | 'hit' | 'miss' | 'rejected' | 'unavailable' | 'loaded';

const BUNDLE = path.join(__dirname, 'cli-main.js');
const CACHE_DIR = path.join(__dirname, '.code-cache');

/**
 * `cli-main.<bundle>.<runtime>.<command>.bin`: one cache per runtime (Node for the CLI, VS Code's Electron for its
 * terminal), so using both does not make each evict the other, and one per subcommand, because a cache holds the
 * functions its first run compiled (`--help` compiles little of what `run` needs). A rebuilt bundle makes all the
 * old ones stale.
 */
function cacheFile(source: Buffer, command: string): string {
  const hash = (data: string | Buffer) => createHash('sha256').update(data).digest('hex').slice(0, 16);
  const runtime = hash(`${process.version}\0${process.versions.v8}\0${process.arch}\0${process.execArgv.join(' ')}`);
  const name = /^[a-z]{1,20}$/.test(command) ? command : 'other';
  return path.join(CACHE_DIR, `cli-main.${hash(source)}.${runtime}.${name}.bin`);
}

/** The bundle compiled with cached code when a valid cache exists; undefined when it cannot be read or compiled. */
function compileCached(): { script: vm.Script; file: string; outcome: CacheOutcome } | undefined {
  try {
    const source = fs.readFileSync(BUNDLE);
    const file = cacheFile(source, process.argv[2] ?? '');
    let cachedData: Buffer | undefined;
    try {
      cachedData = fs.readFileSync(file);
    } catch {
      cachedData = undefined;
    }
    const script = new vm.Script(Module.wrap(source.toString('utf8')), { filename: BUNDLE, cachedData });
    return { script, file, outcome: !cachedData ? 'miss' : script.cachedDataRejected ? 'rejected' : 'hit' };
  } catch {
    return undefined; // the ordinary require below reports any real problem with the bundle
  }
}

/** Runs the compiled bundle as the CommonJS module `require` would have made of it. */
function run(script: vm.Script): CliBundle {
  const mod = new Module(BUNDLE, module);
  mod.filename = BUNDLE;
  mod.paths = module.paths; // the bundle sits beside this launcher: the same node_modules lookup
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(mod.exports, mod.exports, Module.createRequire(BUNDLE), mod, BUNDLE, __dirname);
  mod.loaded = true;
  return mod.exports as CliBundle;
}

function writeCache(file: string, script: vm.Script): void {
  try {
    fs.mkdirSync(CACHE_DIR, { recursive: true, mode: 0o755 });
    // caches of an older bundle are dead weight; other runtimes' caches of this bundle stay
    const bundlePrefix = path.basename(file).split('.').slice(0, 2).join('.') + '.';
    for (const old of fs.readdirSync(CACHE_DIR)) {
      const current = old.startsWith(bundlePrefix) && old.split('.').length === path.basename(file).split('.').length;
      if (old.startsWith('cli-main.') && !current) fs.rmSync(path.join(CACHE_DIR, old), { force: true });
    }
    writeFileAtomic(file, script.createCachedData()); // a concurrent CLI reads the old file or the new one, never half
  } catch {
    // Not writable (a read-only install) or a race with another CLI: the next run loads without a cache.
  }
}

/** Node's ordinary loader, without any cache of ours. */
function plainLoad(): CliBundle {
  return module.require(BUNDLE) as CliBundle;
}

function load(): { exports: CliBundle; outcome: CacheOutcome } {
  // Windows: the warm client already required the bundle for its pipe channel; a second copy would declare the
  // Win32 bindings' types again, which koffi refuses.
  if (require.cache[BUNDLE]) return { exports: plainLoad(), outcome: 'loaded' };
  if (process.env.AGENT_SANDBOX_CODE_CACHE === '0') return { exports: plainLoad(), outcome: 'off' };
  const compiled = compileCached();
  if (!compiled) return { exports: plainLoad(), outcome: 'unavailable' };
  const { script, file, outcome } = compiled;
  // Written at exit so the cache also holds the functions this run compiled lazily (most of a `run`).
  if (outcome !== 'hit') process.once('exit', () => writeCache(file, script));
  return { exports: run(script), outcome };
}

function runCold(): void {
  const { exports: cli, outcome } = load();
  if (process.env.AGENT_SANDBOX_CODE_CACHE === 'report')
    process.stderr.write(`agent-sandbox: code cache: ${outcome}\n`);
  cli.runAsProcess(process.argv.slice(2));
}

restoreCallerEnv(process.env);
// A `run` that a live broker accepts never loads the bundle (see warm/client.ts); everything else runs cold.
// (A throw before its first await, such as a deleted working folder, also means cold: that path reports it properly.)
Promise.resolve()
  .then(() => runWarm(process.argv.slice(2), BUNDLE))
  .catch(() => false)
  .then((warm) => warm || runCold());
