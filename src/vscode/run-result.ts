/**
 * The result of a sandboxed run and its text form for a language model: exit code, duration, policy, denials, and
 * stdout/stderr capped with the truncation stated. Pure (no `vscode` import).
 */
import type { Plan } from '../policy';
import { capOutput } from './output-cap';
import type { NetworkDenial } from '../network/proxy';
import { denialLine } from '../network/denial-text';

/** How the tool's caller asks for a grant. */
export const toolGrantHint = (grant: string): string => `allowDomains: ["${grant}"] (the user will be asked)`;

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  /** Sandbox denials found in the output, explained. */
  denials: string[];
  /** One line: mode, network, writable folders. */
  policy: string;
  /** Allowlist mode: connections the proxy refused (one per host, port and reason), each with the grant to ask for. */
  blocked?: NetworkDenial[];
  /** Git repositories or gitlinks the command created under the roots, reported as untrusted (see nested-git). */
  untrusted?: string;
}

/** Characters kept per stream in a tool result. */
export const TOOL_OUTPUT_CHARS = 8000;

export function policySummary(plan: Pick<Plan, 'mode' | 'network' | 'writableRoots'>): string {
  const writable = plan.writableRoots.length ? plan.writableRoots.join(', ') : 'nothing (read-only)';
  return `mode ${plan.mode}, network ${plan.network}, writable: ${writable}`;
}

export function formatToolResult(r: RunResult, maxChars = TOOL_OUTPUT_CHARS): string {
  const out = capOutput(r.stdout, maxChars);
  const err = capOutput(r.stderr, maxChars);
  const lines = [
    `Exit code: ${r.exitCode}${r.timedOut ? ' (timed out: the command was killed)' : ''}`,
    `Duration: ${r.durationMs} ms`,
    `Sandbox policy: ${r.policy}`,
  ];
  if (r.denials.length) lines.push('Sandbox denials:', ...r.denials.map((d) => `- ${d}`));
  if (r.blocked?.length) {
    lines.push(
      'Blocked connections (network allowlist; do not retry the same command, ask for the grant named):',
      ...r.blocked.map((d) => `- ${denialLine(d, toolGrantHint)}`),
    );
  }
  if (r.untrusted) lines.push(`Warning: ${r.untrusted}`);
  lines.push(`stdout${out.omitted ? ` (truncated: ${out.omitted} characters omitted)` : ''}:`, out.text || '(empty)');
  lines.push(`stderr${err.omitted ? ` (truncated: ${err.omitted} characters omitted)` : ''}:`, err.text || '(empty)');
  return lines.join('\n');
}
