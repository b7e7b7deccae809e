/**
 * `npm run bench`: per-command overhead (plain, CLI cold, in-process cold, brokered; offline and online),
 * throughput, the network allowlist proxy's connect latency and throughput against a direct connection, plan compile
 * time on a 100k-file workspace, package sizes and activation. Prints the report and writes bench/results.json
 * (everything, raw samples included) and bench/RESULTS.md (linked from the README, which keeps only a short summary: it
 * never copies machine details).
 * Options: --runs N (measured rounds wanted, default 30), --warmup N (default 3), --budget SEC (time for the measured
 * rounds, default 90; at least 10 rounds run regardless), --quick (8 runs, 2 warm-up, 20 s), --no-package (skip
 * building the .vsix files). Never part of `npm test`; it asserts nothing, it measures.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { disposeBackends, backendFor, stopBrokers } from '../src/sandbox';
import { hostPlatform } from '../src/sandbox/host';
import type { Platform } from '../src/policy';
import { loadOutsideVsCode, recordedActivation } from './activation';
import type { Rounds } from './harness';
import { measureOverhead } from './overhead';
import { measureProxy } from './proxy';
import { bundleSizes, vsixSizes } from './package-size';
import { BIG_FILE_COUNT, createTree, measureCompile, type CompileResults } from './plan-compile';
import { describeMachine, loadAverage } from './platform';
import { renderMarkdown, type BenchResults } from './report';
import { checkRatioTargets, checkTargets } from './targets';

const ROOT = path.resolve(__dirname, '..', '..');
const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

function options(): { rounds: Rounds; skipPackage: boolean } {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      warmup: { type: 'string' },
      budget: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-package': { type: 'boolean', default: false },
    },
  });
  const int = (v: string | undefined, def: number) => {
    const n = v === undefined ? def : Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`expected a whole number, got "${v}"`);
    return n;
  };
  return {
    rounds: {
      runs: Math.max(1, int(values.runs, values.quick ? 8 : 30)),
      warmup: int(values.warmup, values.quick ? 2 : 3),
      minRuns: values.quick ? 5 : 10,
      budgetMs: int(values.budget, values.quick ? 20 : 90) * 1000,
    },
    skipPackage: values['no-package'],
  };
}

async function backendStatus(platform: Platform, stateDir: string): Promise<Record<string, string>> {
  try {
    const s = await (await backendFor(platform, { stateDir, broker: false })).status();
    return { state: `${s.state}: ${s.summary}`, ...s.details };
  } catch (e) {
    return { state: `unavailable: ${(e as Error).message}` };
  }
}

async function compileOrError(
  platform: Platform,
  ws: string,
  bigWs: string,
  stateDir: string,
): Promise<BenchResults['compile']> {
  try {
    progress(`creating a ${BIG_FILE_COUNT.toLocaleString('en-US')}-file workspace...`);
    const createMs = createTree(bigWs, BIG_FILE_COUNT);
    progress('plan compile (10 vs 100k files)...');
    return (await measureCompile(platform, ws, bigWs, stateDir, createMs)) satisfies CompileResults;
  } catch (e) {
    return { error: (e as Error).message };
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { rounds, skipPackage } = options();
  const platform = hostPlatform();
  if (!platform) throw new Error(`npm run bench supports Linux and Windows, not ${process.platform}`);
  const tmp = fs.realpathSync(
    fs.mkdtempSync(path.join(process.env.AGENT_SANDBOX_BENCH_DIR ?? os.tmpdir(), 'agent-sandbox-bench-')),
  );
  const [ws, bigWs, stateDir] = ['ws', 'ws-100k', 'state'].map((d) => path.join(tmp, d));
  for (const d of [ws, bigWs, stateDir]) fs.mkdirSync(d, { recursive: true });
  for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(ws, `file${i}.txt`), 'x');
  const loadAtStart = loadAverage(platform);
  try {
    const compile = await compileOrError(platform, ws, bigWs, stateDir);
    const cliPath = path.join(ROOT, 'dist', 'cli.js');
    const overhead = await measureOverhead({ platform, ws, bigWs, stateDir, cliPath }, rounds, progress);
    progress('network allowlist: connect latency and throughput through the proxy vs direct...');
    const proxy = await measureProxy(platform, ws, stateDir, 53);
    const status = await backendStatus(platform, stateDir);
    await disposeBackends();
    progress('activation and package sizes...');
    const activation = { recorded: recordedActivation(ROOT), loadOutsideVsCode: loadOutsideVsCode(ROOT, 10) };
    const vsix = vsixSizes(ROOT, skipPackage);
    const results: BenchResults = {
      version: 1,
      date: new Date().toISOString(),
      durationMs: Date.now() - started,
      machine: describeMachine(platform),
      load: { start: loadAtStart, end: loadAverage(platform) },
      backendStatus: status,
      rounds,
      overhead,
      proxy,
      targets: checkTargets(overhead.cases),
      ratioTargets: checkRatioTargets(overhead.cases),
      compile,
      bundles: bundleSizes(ROOT),
      vsix,
      activation,
    };
    const md = renderMarkdown(results);
    fs.writeFileSync(path.join(ROOT, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
    fs.writeFileSync(path.join(ROOT, 'bench', 'RESULTS.md'), md);
    process.stdout.write(md);
    progress(`wrote bench/results.json and bench/RESULTS.md in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await disposeBackends();
    // The warm CLI broker the warm rows left behind is stopped (and waited for) first: left to notice its state
    // folder gone, it would write its live record into it while it is being removed.
    await stopBrokers(stateDir).catch(() => []);
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exitCode = 1;
});
