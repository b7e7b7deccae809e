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
