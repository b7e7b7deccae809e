/**
 * Renders a VerifyReport for people: a Markdown table (the VS Code command's editor view) and plain text (the
 * CLI). Pure. Every row shows expected, observed, pass and a one-line meaning; nothing is summarised away.
 */
import type { VerifyCheck, VerifyReport } from './types';

function verdict(r: VerifyReport): string {
  const failed = r.checks.filter((c) => !c.pass).length;
  return r.ok
    ? `The sandbox held: all ${r.checks.length} checks passed.`
    : `The sandbox did NOT hold: ${failed} of ${r.checks.length} checks failed.`;
}

function heading(r: VerifyReport): string {
  return `Agent Sandbox verification — ${r.platform}, network ${r.network}`;
}

/** Escapes a table cell: pipes and newlines would break the Markdown table. */
function cell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function oneLine(s: string): string {
  return s.replace(/\s*\r?\n\s*/g, ' ');
}

export function renderReportMarkdown(r: VerifyReport): string {
  const lines = [
    `# ${heading(r)}`,
    '',
    `**${verdict(r)}**`,
    '',
    '| Check | Expected | Observed | Pass | Meaning |',
    '|---|---|---|---|---|',
    ...r.checks.map(
      (c) =>
        `| ${cell(c.title)} | ${c.expected} | ${c.observed} | ${c.pass ? '✅ yes' : '❌ no'} | ${cell(c.meaning)} |`,
    ),
  ];
  if (r.enforcement) {
    lines.push('', `Enforcement: filesystem ${r.enforcement.filesystem}, network ${r.enforcement.network}.`);
  }
  if (r.notes.length) lines.push('', '## Notes', '', ...r.notes.map((n) => `- ${cell(n)}`));
  const details = r.checks.filter((c) => c.detail);
  if (details.length)
    lines.push('', '## Evidence', '', ...details.map((c) => `- \`${c.id}\`: ${cell(c.detail ?? '')}`));
  return lines.join('\n') + '\n';
}

export function renderReportText(r: VerifyReport): string {
  const rows: string[][] = [
    ['', 'CHECK', 'EXPECTED', 'OBSERVED', 'MEANING'],
    ...r.checks.map((c: VerifyCheck) => [
      c.pass ? 'ok' : 'FAIL',
      oneLine(c.title),
      c.expected,
      c.observed,
      oneLine(c.meaning),
    ]),
  ];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i].length)));
  const table = rows.map((row) =>
    row
      .map((v, i) => (i < 4 ? v.padEnd(widths[i]) : v))
      .join('  ')
      .trimEnd(),
  );
  const failedDetails = r.checks.filter((c) => !c.pass && c.detail).map((c) => `  ${c.id}: ${c.detail}`);
  return (
    [
      heading(r),
      ...table,
      '',
      verdict(r),
      ...(failedDetails.length ? ['Evidence for failed checks:', ...failedDetails] : []),
      ...(r.notes.length ? ['Notes:', ...r.notes.map((n) => `  - ${n}`)] : []),
    ].join('\n') + '\n'
  );
}
