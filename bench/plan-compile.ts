/**
 * Plan compile time for a 10-file and a 100k-file workspace (tinybench), and the evidence that planning does not
 * walk the tree: the filesystem calls the planner makes, counted through its `FsView`, and the time ratio.
 * Creates the big workspace once per run; the caller removes it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Bench } from 'tinybench';
import type { FsView, Platform } from '../src/policy';
import { compilePlan, policyFromCli } from '../src/policy';
import { hostContext, realFs } from '../src/sandbox/host';

export const BIG_FILE_COUNT = 100_000;
const FILES_PER_DIR = 1000;

export interface CompileCase {
  files: number;
  medianUs: number;
  meanUs: number;
  samples: number;
  /** realpath/kind/list/read calls the planner made for one compile. */
  fsCalls: number;
}

export interface CompileResults {
  treeCreateMs: number;
  small: CompileCase;
  big: CompileCase;
  /** True when the fs call count is the same for 10 and 100k files and time does not grow with the tree. */
  walksTree: boolean;
}

/**
 * Creates `count` empty files in folders of 1000 under `tree/` (so the root itself has one entry whatever the
 * count: the planner lists each root, one level, and must not go further); returns the time it took.
 */
export function createTree(dir: string, count: number): number {
  const t0 = performance.now();
  for (let d = 0; d * FILES_PER_DIR < count; d++) {
    const sub = path.join(dir, 'tree', `d${d}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < FILES_PER_DIR && d * FILES_PER_DIR + f < count; f++) {
      fs.closeSync(fs.openSync(path.join(sub, `f${f}`), 'w'));
    }
  }
  return performance.now() - t0;
}

function countingFs(): { view: FsView; calls: () => number } {
  let n = 0;
  const view: FsView = {
    realpath: (p) => (n++, realFs.realpath(p)),
    kind: (p) => (n++, realFs.kind(p)),
    list: (p) => (n++, realFs.list!(p)),
    read: (p) => (n++, realFs.read!(p)),
  };
  return { view, calls: () => n };
}

function compileOnce(platform: Platform, ws: string, stateDir: string, fsView: FsView): void {
  const flags = { workspace: [ws], write: [], readOnly: false, protect: [] };
  compilePlan(policyFromCli(flags, ws), hostContext({ platform, stateDir, fs: fsView }));
}

export async function measureCompile(
  platform: Platform,
  smallWs: string,
  bigWs: string,
  stateDir: string,
  treeCreateMs: number,
): Promise<CompileResults> {
  const fsCalls = (ws: string) => {
    const c = countingFs();
    compileOnce(platform, ws, stateDir, c.view);
    return c.calls();
  };
  const bench = new Bench({ time: 500, warmupTime: 100, throws: true });
  bench.add('small', () => compileOnce(platform, smallWs, stateDir, realFs));
  bench.add('big', () => compileOnce(platform, bigWs, stateDir, realFs));
  await bench.run();
  const [small, big] = ['small', 'big'].map((name, i) => {
    const r = bench.getTask(name)?.result;
    if (r?.state !== 'completed') throw new Error(`plan compile benchmark "${name}" did not complete (${r?.state})`);
    return {
      files: i === 0 ? countFiles(smallWs) : BIG_FILE_COUNT,
      medianUs: r.latency.p50 * 1000,
      meanUs: r.latency.mean * 1000,
      samples: r.latency.samplesCount,
      fsCalls: fsCalls(i === 0 ? smallWs : bigWs),
    };
  });
  // Time may wobble on a busy machine; a walk over 100k entries would cost orders of magnitude more than 2x.
  const walksTree = big.fsCalls !== small.fsCalls || big.medianUs > 2 * small.medianUs;
  return { treeCreateMs, small, big, walksTree };
}

function countFiles(dir: string): number {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
}
