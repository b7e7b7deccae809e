/**
 * What to tell the user when the backend that runs a command enforces less than the policy asks for (Windows'
 * unelevated offline mode, Wine, full-access); empty when it holds. Every surface says it on every run.
 */
import type { Enforcement } from './types';

export function weakerThanAsked(enf: Enforcement, planWarnings: string[]): string[] {
  if (enf.filesystem === 'enforced' && enf.network !== 'advisory') return [];
  return [...planWarnings, ...enf.notes];
}
