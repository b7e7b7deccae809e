import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { SandboxBackend, SpawnSpec } from '../../src/sandbox/types';
import type { Plan } from '../../src/policy/plan';
import { runWindowsProbes, type InjectionTarget } from '../../src/verify/windows-run';

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
  const blocked = (argv: string[]) =>
    /connect\(443/.test(argv.join(' ')) ||
    argv[0] === 'net.exe' ||
    argv.includes('Get-Clipboard') ||
    /Resolve-DnsName/.test(argv.join(' '));
  const b = fakeBackend((argv) => (blocked(argv) ? 1 : 0));
  const r = await runWindowsProbes(b, {} as Plan, '/nonexistent-ws', facts);
  assert.ok(r.rows.length >= 6);
  assert.ok(
    b.ran.some((a) => a.join(' ') === 'net.exe view \\\\127.0.0.1'),
    'the UNC target is filled in',
  );
  assert.ok(!r.rows.some((x) => x.title.includes('{')), 'titles show the filled command');
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

test('control: a DNS lookup or a share list that works while offline fails its row and names the gap', async () => {
  const b = fakeBackend((argv) => (/connect\(443/.test(argv.join(' ')) || argv.includes('Get-Clipboard') ? 1 : 0));
  const r = await runWindowsProbes(b, {} as Plan, '/nonexistent-ws', facts);
  const dns = r.rows.find((x) => x.id === 'windows-dns-lookup')!;
  const unc = r.rows.find((x) => x.id === 'windows-unc-path')!;
  assert.deepEqual([dns.pass, unc.pass], [false, false]);
  assert.match(dns.meaning, /DNS Client service/);
  assert.match(unc.meaning, /redirector/);
});

test('under Wine nothing is run: every probe is a note', async () => {
  const b = fakeBackend(() => 0);
  const r = await runWindowsProbes(b, {} as Plan, '/x', { ...facts, wine: true });
  assert.deepEqual(r.rows, []);
  assert.equal(b.ran.length, 0);
});

/** The verifier's window, in memory: what reaches it shows in its text only once pumped (as a real EDIT control). */
function fakeTarget() {
  const t = {
    hwnd: 0x10abcn,
    posted: '',
    shown: '',
    pumps: 0,
    closed: false,
    pump() {
      t.pumps++;
      t.shown += t.posted;
      t.posted = '';
    },
    text: () => t.shown,
    close() {
      t.closed = true;
    },
  };
  return t satisfies InjectionTarget & { posted: string };
}

test("desktop escape probe: run with the verifier's window handle and judged by the window outside: nothing received passes; a character received fails (the control); an unopenable window is a note; the window is always closed", async () => {
  for (const lands of [false, true]) {
    const target = fakeTarget();
    const b = fakeBackend((argv) => {
      const s = argv.join(' ');
      if (!s.includes('OpenDesktop')) return /connect\(443|^net\.exe|Get-Clipboard|Resolve-DnsName/.test(s) ? 1 : 0;
      assert.ok(s.includes(`[IntPtr][Int64]${target.hwnd}`), 'the handle of the window opened outside is filled in');
      // The sandbox's side: an escaped process posts 'q' to the window; a contained one is refused at OpenDesktop.
      if (lands) target.posted += 'q';
      return lands ? 0 : 2;
    });
    const r = await runWindowsProbes(b, {} as Plan, '/nonexistent-ws', facts, undefined, () => target);
    const row = r.rows.find((x) => x.id === 'windows-input-injection')!;
    assert.ok(row, 'the probe ran instead of becoming a note');
    assert.equal(row.expected, 'DENIED');
    assert.equal(row.pass, !lands, JSON.stringify(row));
    assert.match(
      row.detail ?? '',
      lands ? /received "q"/ : /exit 2 \(OpenDesktop\("Default"\) was refused\); the window outside received nothing/,
    );
    assert.ok(target.closed && target.pumps > 0);
  }
  const r = await runWindowsProbes(
    fakeBackend(() => 0),
    {} as Plan,
    '/nonexistent-ws',
    facts,
    undefined,
    () => {
      throw new Error('CreateWindowExW failed');
    },
  );
  assert.ok(!r.rows.some((x) => x.id === 'windows-input-injection'));
  assert.match(
    r.notes.join('\n'),
    /input-injection not checked: the target window could not be opened \(CreateWindowExW failed\)/,
  );
});
