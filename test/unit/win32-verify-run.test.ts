import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { SandboxBackend, SpawnSpec } from '../../src/sandbox/types';
import type { Plan } from '../../src/policy/plan';
import { runWindowsProbes } from '../../src/verify/windows-run';

/** A backend whose commands exit with what `exitFor` says (the rows are judged on exit codes only). */
function fakeBackend(exitFor: (argv: string[]) => number): SandboxBackend & { ran: string[][] } {
  const ran: string[][] = [];
  return {
    ran,
    platform: 'win32',
    async spawn(_plan: Plan, spec: SpawnSpec) {
      ran.push(spec.argv);
      return {
        stdin: new PassThrough(),
        stdout: new PassThrough(),
        stderr: new PassThrough(),
        kill() {},
        exited: Promise.resolve({ code: exitFor(spec.argv), signal: null, timedOut: false }),
        enforcement: { filesystem: 'enforced', network: 'enforced', notes: [] },
      } as never;
    },
  } as never;
}

const facts = {
  mode: 'elevated' as const,
  network: 'offline' as const,
  wine: false,
  ui: { privateDesktop: true, uiLimits: true, breakaway: false, gaps: [] },
  firewall: { enforced: true, reasons: [] },
};

test('a working sandbox passes every probe it runs; input injection and git (no repository) become notes, never passes', async () => {
  const b = fakeBackend((argv) => (argv[0] === 'curl.exe' || argv.includes('Get-Clipboard') ? 1 : 0));
  const r = await runWindowsProbes(b, {} as Plan, '/nonexistent-ws', facts);
  assert.ok(r.rows.length >= 6);
  assert.ok(
    r.rows.every((x) => x.pass),
    JSON.stringify(r.rows),
  );
  assert.ok(!r.rows.some((x) => x.id === 'windows-input-injection' || x.id === 'windows-git-status'));
  assert.match(r.notes.join('\n'), /input-injection not checked: needs a window/);
  assert.match(r.notes.join('\n'), /git-status not checked/);
  assert.ok(
    r.rows.some((x) => x.id === 'windows-console-cmd-tty'),
    'console programs also run through the terminal path',
  );
  assert.equal(b.ran.length, r.rows.length, 'one spawn per row');
});

test('control: console programs dying with 0xC0000142 fail their rows and say why; a readable clipboard fails its row', async () => {
  const b = fakeBackend((argv) => (argv[0] === 'cmd.exe' ? 3221225794 : 0));
  const r = await runWindowsProbes(b, {} as Plan, '/nonexistent-ws', facts);
  const cmd = r.rows.find((x) => x.id === 'windows-console-cmd')!;
  assert.equal(cmd.pass, false);
  assert.match(cmd.detail ?? '', /0xC0000142/);
  assert.equal(r.rows.find((x) => x.id === 'windows-clipboard-read')!.pass, false);
});

test('under Wine nothing is run: every probe is a note', async () => {
  const b = fakeBackend(() => 0);
  const r = await runWindowsProbes(b, {} as Plan, '/x', { ...facts, wine: true });
  assert.deepEqual(r.rows, []);
  assert.equal(b.ran.length, 0);
});
