/**
 * The performance targets users feel (per-command overhead against a plain spawn, activation, package size; see
 * DESIGN's performance section), checked against one run's medians. A target with no measured case is
 * "not measured", never "met".
 */
import type { CaseResult } from './harness';

export interface TargetCheck {
  name: string;
  /** Allowed median overhead over the plain spawn of the same command. */
  limitMs: number;
  cases: { id: string; overheadMs?: number; error?: string }[];
  verdict: 'met' | 'missed' | 'not measured';
}

const TARGETS = [
  { name: 'Brokered: median within 5 ms of plain spawn', prefix: 'broker/', limitMs: 5 },
  { name: 'Cold `agent-sandbox run`: under 150 ms median over plain spawn', prefix: 'cli/', limitMs: 150 },
];

/** Median of the case minus median of its plain baseline; undefined when either is missing. */
export function overheadMs(c: CaseResult, all: CaseResult[]): number | undefined {
  const base = all.find((b) => b.id === c.baseline)?.summary;
  return c.summary && base ? c.summary.median - base.median : undefined;
}

export function checkTargets(results: CaseResult[]): TargetCheck[] {
  return TARGETS.map((t) => {
    const cases = results
      .filter((c) => c.id.startsWith(t.prefix))
      .map((c) => ({ id: c.id, overheadMs: overheadMs(c, results), error: c.error }));
    const measured = cases.filter((c) => c.overheadMs !== undefined);
    const verdict =
      measured.length < cases.length || !cases.length
        ? 'not measured'
        : measured.every((c) => (c.overheadMs as number) <= t.limitMs)
          ? 'met'
          : 'missed';
    return { name: t.name, limitMs: t.limitMs, cases, verdict };
  });
}

/** A target stated as a ratio of two medians measured in the same run (issue 15). */
export interface RatioCheck {
  name: string;
  caseId: string;
  referenceId: string;
  maxRatio: number;
  ratio?: number;
  verdict: 'met' | 'missed' | 'not measured';
}

/**
 * Before issue 15 the cold CLI run of /bin/true took 147.9 ms against 70.8 ms for `node -e 0` on this machine
 * (bench/RESULTS.md of 2026-11-27): 2.089×. "25% below" is kept as a ratio to `node -e 0` in the same run, so a
 * busier or quieter machine does not move the goalposts.
 */
const COLD_BEFORE_RATIO = 147.9 / 70.8;

const RATIO_TARGETS: (Omit<RatioCheck, 'ratio' | 'verdict'> & { optional?: boolean })[] = [
  {
    name: 'Warm `agent-sandbox run` of /bin/true: median at most 1.0× `node -e 0`',
    caseId: 'warm/offline/true',
    referenceId: 'ref/node',
    maxRatio: 1.0,
  },
  {
    name: 'Warm run of /bin/true through the fast launcher (`dist/agent-sandbox`, Linux): median at most 1.0× `node -e 0`',
    caseId: 'fast/offline/true',
    referenceId: 'ref/node',
    maxRatio: 1.0,
  },
  {
    name: 'The same against `node -e 0` without NODE_EXTRA_CA_CERTS (reference; only where that variable is set)',
    caseId: 'fast/offline/true',
    referenceId: 'ref/node-no-extra-ca',
    maxRatio: 1.0,
  },
  {
    name: `Cold \`agent-sandbox run\` of /bin/true: 25% below its pre-broker ratio to \`node -e 0\` (${COLD_BEFORE_RATIO.toFixed(2)}×), so at most ${(0.75 * COLD_BEFORE_RATIO).toFixed(2)}×`,
    caseId: 'cli/offline/true',
    referenceId: 'ref/node',
    maxRatio: 0.75 * COLD_BEFORE_RATIO,
  },
  {
    name: `Cold run of /bin/true through the fast launcher (\`dist/agent-sandbox\`, Linux): at most ${(0.75 * COLD_BEFORE_RATIO).toFixed(2)}× \`node -e 0\``,
    caseId: 'fastcold/offline/true',
    referenceId: 'ref/node',
    maxRatio: 0.75 * COLD_BEFORE_RATIO,
    optional: true,
  },
  {
    name: "Cold run of /bin/true through the fast launcher: 25% below the baseline build's `node dist/cli.js` in the same run (AGENT_SANDBOX_BENCH_BASELINE_CLI), so at most 0.75×",
    caseId: 'fastcold/offline/true',
    referenceId: 'ref/cli-baseline',
    maxRatio: 0.75,
    optional: true,
  },
  {
    name: 'Cold `agent-sandbox run` of /bin/true: 25% below the baseline build measured in the same run (AGENT_SANDBOX_BENCH_BASELINE_CLI), so at most 0.75×',
    caseId: 'cli/offline/true',
    referenceId: 'ref/cli-baseline',
    maxRatio: 0.75,
    optional: true,
  },
];

/** `optional` targets (a baseline build the run was not given, a launcher this platform lacks) are left out rather than "not measured". */
export function checkRatioTargets(results: CaseResult[]): RatioCheck[] {
  const has = (id: string) => results.some((r) => r.id === id);
  return RATIO_TARGETS.filter((t) => !t.optional || (has(t.referenceId) && has(t.caseId))).map(
    ({ optional: _optional, ...t }) => {
      const c = results.find((r) => r.id === t.caseId)?.summary;
      const ref = results.find((r) => r.id === t.referenceId)?.summary;
      if (!c || !ref) return { ...t, verdict: 'not measured' };
      const ratio = c.median / ref.median;
      return { ...t, ratio, verdict: ratio <= t.maxRatio ? 'met' : 'missed' };
    },
  );
}
