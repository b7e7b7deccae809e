/** Output capping for the language-model tool and the log: head and tail kept, truncation stated. */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedText, capOutput } from '../../src/vscode/output-cap';
import { formatToolResult, policySummary } from '../../src/vscode/run-result';

test('capOutput leaves short text alone', () => {
  assert.deepEqual(capOutput('hello', 10), { text: 'hello', omitted: 0 });
});

test('capOutput keeps 40% head and 60% tail and says how much was omitted', () => {
  const text = 'H'.repeat(500) + 'M'.repeat(1000) + 'T'.repeat(500);
  const r = capOutput(text, 1000);
  assert.equal(r.omitted, 1000);
  assert.ok(r.text.startsWith('H'.repeat(400) + '\n[... 1000 characters omitted'));
  assert.ok(r.text.endsWith('M'.repeat(100) + 'T'.repeat(500)));
  assert.match(r.text, /showing the first 400 and last 600/);
});

test('BoundedText keeps the first and last `limit` characters across chunks and counts the rest', () => {
  const b = new BoundedText(4);
  for (const c of ['ab', 'cd', 'ef', 'gh', 'ij']) b.push(c);
  assert.equal(b.toString(), 'abcd\n[... 2 characters omitted from the middle ...]\nghij');
  const small = new BoundedText(10);
  small.push('abc');
  small.push('def');
  assert.equal(small.toString(), 'abcdef');
});

test('formatToolResult states exit code, duration, policy, denials and truncation', () => {
  const text = formatToolResult(
    {
      exitCode: 1,
      stdout: 'x'.repeat(50),
      stderr: '',
      durationMs: 12,
      timedOut: false,
      denials: ['Write to /etc/x was blocked'],
      policy: policySummary({ mode: 'workspace-write', network: 'offline', writableRoots: ['/w'] }),
    },
    20,
  );
  assert.match(
    text,
    /^Exit code: 1\nDuration: 12 ms\nSandbox policy: mode workspace-write, network offline, writable: \/w/,
  );
  assert.match(text, /Sandbox denials:\n- Write to \/etc\/x was blocked/);
  assert.match(text, /stdout \(truncated: 30 characters omitted\):/);
  assert.match(text, /stderr:\n\(empty\)/);
});

test('formatToolResult marks a timeout', () => {
  const text = formatToolResult({
    exitCode: 124,
    stdout: '',
    stderr: '',
    durationMs: 5,
    timedOut: true,
    denials: [],
    policy: 'p',
  });
  assert.match(text, /Exit code: 124 \(timed out: the command was killed\)/);
  assert.doesNotMatch(text, /Sandbox denials/);
});

test('formatToolResult carries the untrusted-repository report to the agent, and says nothing when there is none', () => {
  const base = { exitCode: 0, stdout: '', stderr: '', durationMs: 1, timedOut: false, denials: [], policy: 'p' };
  const text = formatToolResult({
    ...base,
    untrusted: "The sandboxed command created git repositories ... rm -rf '/w/sub/.git'",
  });
  assert.match(text, /^Warning: The sandboxed command created git repositories .*rm -rf/m);
  assert.doesNotMatch(formatToolResult(base), /Warning:/);
});
