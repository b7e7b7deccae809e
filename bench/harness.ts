/**
 * The timing harness for process-level cases: warm-up rounds, then N measured rounds in which every case runs once
 * in a freshly shuffled order. Interleaving keeps slow drift (other load on the machine, thermal state, page
 * cache) from landing on one case, which matters for ratios on a small shared machine. Only `run()` is timed;
 * `before()`/`after()` prepare and verify outside the timed region. A case that throws is dropped and reported
 * with its error, never timed.
 */
import { shuffled, summarize, type Summary } from './stats';

export interface Case {
  id: string;
  /** What the table shows, e.g. "brokered, offline". */
  label: string;
  /** The command as text. */
  command: string;
  /** Id of the plain-spawn case this one is compared against. */
  baseline?: string;
  before?(): void;
  run(): Promise<void>;
  after?(): void;
}

export interface CaseResult {
  id: string;
  label: string;
  command: string;
  baseline?: string;
  summary?: Summary;
  samples: number[];
  /** Why the case has no numbers (the sandbox was unavailable or the command failed). */
  error?: string;
}

export interface Rounds {
  warmup: number;
  /** Measured rounds wanted. */
  runs: number;
  /** Stop after `minRuns` measured rounds once the measured phase has used `budgetMs`, so a busy machine still finishes. */
  minRuns: number;
  budgetMs: number;
}

export async function runInterleaved(
  cases: Case[],
  rounds: Rounds,
  progress: (msg: string) => void,
): Promise<CaseResult[]> {
  const results = new Map<string, CaseResult>(cases.map((c) => [c.id, resultOf(c)]));
  let live = [...cases];
  const total = rounds.warmup + rounds.runs;
  let measuredSince = 0;
  for (let round = 0; round < total; round++) {
    if (round === rounds.warmup) measuredSince = performance.now();
    const measured = round - rounds.warmup;
    if (measured >= rounds.minRuns && performance.now() - measuredSince > rounds.budgetMs) {
      progress(`  time budget used: stopping after ${measured} measured rounds`);
      break;
    }
    for (const c of shuffled(live)) {
      const r = results.get(c.id) as CaseResult;
      try {
        const ms = await timeOnce(c);
        if (round >= rounds.warmup) r.samples.push(ms);
      } catch (e) {
        r.error = (e as Error).message;
        live = live.filter((x) => x !== c);
        progress(`  ${c.id}: dropped: ${r.error.split('\n')[0]}`);
      }
    }
    if ((round + 1) % 5 === 0 || round + 1 === total) progress(`  round ${round + 1}/${total}`);
  }
  return [...results.values()].map((r) => (r.error || !r.samples.length ? r : { ...r, summary: summarize(r.samples) }));
}

function resultOf(c: Case): CaseResult {
  return { id: c.id, label: c.label, command: c.command, baseline: c.baseline, samples: [] };
}

async function timeOnce(c: Case): Promise<number> {
  c.before?.();
  const t0 = performance.now();
  await c.run();
  const ms = performance.now() - t0;
  c.after?.();
  return ms;
}

/** Wall time of `count` sequential runs of `run`. */
export async function timeSequential(count: number, run: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await run();
  return performance.now() - t0;
}
