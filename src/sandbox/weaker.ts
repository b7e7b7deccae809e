/**
 * What to tell the user when the backend that ran a command enforced less than the policy asks for (Windows'
 * unelevated offline mode, Wine, full-access), plus whatever went wrong while preparing; empty when it holds.
 * Every surface says it on every run, from the spawned process's own enforcement.
 */
import type { Enforcement } from './types';

export function weakerThanAsked(enf: Enforcement, planWarnings: string[]): string[] {
  const problems = enf.problems ?? [];
  if (enf.filesystem === 'enforced' && enf.network !== 'advisory') return problems;
  return [...planWarnings, ...enf.notes, ...problems];
}
