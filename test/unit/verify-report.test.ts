import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderReportMarkdown, renderReportText, type VerifyReport } from '../../src/verify';
import { gitNotes } from '../../src/verify';
import { describeUntrusted } from '../../src/sandbox/nested-git';

const report: VerifyReport = {
  ok: false,
  platform: 'linux',
  network: 'offline',
  enforcement: { filesystem: 'enforced', network: 'enforced', notes: ['Landlock ABI 7'] },
  notes: ['Landlock ABI 7'],
  checks: [
    {
      id: 'write-workspace',
      title: 'Write in the workspace',
      expected: 'SUCCEEDED',
      observed: 'SUCCEEDED',
      pass: true,
      meaning: 'Commands can write in the workspace.',
      detail: '/ws/f',
    },
    {
      id: 'write-home',
      title: 'Write in a | piped\nname',
      expected: 'DENIED',
      observed: 'SUCCEEDED',
      pass: false,
      meaning: 'A command could write in your home folder.',
      detail: 'the effect reached the host',
    },
    {
      id: 'deny-read',
      title: 'Read a credential file',
      expected: 'DENIED',
      observed: 'NOT_ENFORCED',
      pass: false,
      meaning: 'Not enforced in this mode: a command could read a credential file.',
    },
  ],
};

test('markdown: one table row per check with expected, observed, pass and meaning', () => {
  const md = renderReportMarkdown(report);
  const lines = md.split('\n');
  const header = lines.findIndex((l) => l === '| Check | Expected | Observed | Pass | Meaning |');
  assert.ok(header > 0, md);
  const rows = lines.slice(header + 2, header + 2 + report.checks.length);
  assert.equal(rows.length, 3);
  assert.equal(
    rows[0],
    '| Write in the workspace | SUCCEEDED | SUCCEEDED | ✅ yes | Commands can write in the workspace. |',
  );
  assert.match(rows[2], /\| DENIED \| NOT_ENFORCED \| ❌ no \| Not enforced in this mode/);
  assert.match(md, /did NOT hold: 2 of 3 checks failed/);
});

test('markdown: a pipe or newline in a cell cannot break the table', () => {
  const row = renderReportMarkdown(report)
    .split('\n')
    .find((l) => l.includes('piped'));
  assert.ok(row);
  assert.equal(row.includes('\\| piped name'), true, row);
  // Six unescaped pipes: the row still has exactly five cells.
  assert.equal(row.replace(/\\\|/g, '').split('|').length - 1, 6, row);
});

test('markdown: evidence and notes are listed', () => {
  const md = renderReportMarkdown(report);
  assert.match(md, /`write-home`: the effect reached the host/);
  assert.match(md, /- Landlock ABI 7/);
  assert.match(md, /Enforcement: filesystem enforced, network enforced/);
});

test('markdown: an all-pass report says the sandbox held', () => {
  const md = renderReportMarkdown({ ...report, ok: true, checks: [report.checks[0]] });
  assert.match(md, /The sandbox held: all 1 checks passed/);
});

test('text: every check on its own line with FAIL markers and evidence for failures only', () => {
  const txt = renderReportText(report);
  assert.match(txt, /^ok\s+Write in the workspace\s+SUCCEEDED\s+SUCCEEDED\s+Commands can write/m);
  assert.match(txt, /^FAIL\s+Read a credential file\s+DENIED\s+NOT_ENFORCED/m);
  assert.match(txt, /write-home: the effect reached the host/);
  assert.doesNotMatch(txt, /write-workspace: \/ws\/f/);
});

test('gitNotes: unprotected hook-manager configs are named; a nested repository found after the run is reported with how to remove it', () => {
  const nested = describeUntrusted({ gitdirs: ['/w/sub/.git'], gitlinks: ['/w/sub'], truncated: false });
  const notes = gitNotes({ unprotected: ['/w/package.json: lint-staged ...'] }, nested);
  assert.equal(notes[0], 'Unprotected: /w/package.json: lint-staged ...');
  assert.match(notes[1], /nested repository \/w\/sub\/\.git: remove it with {2}rm -rf '\/w\/sub\/\.git'/);
  assert.match(notes[1], /gitlink \/w\/sub in the index .*git rm --cached '\/w\/sub'/);
  assert.match(gitNotes({ unprotected: [] }, undefined)[0], /this run made none/);
  assert.equal(describeUntrusted({ gitdirs: [], gitlinks: [], truncated: false }), undefined);
});
