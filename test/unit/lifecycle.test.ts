// The lifecycle both surfaces use: one switch over the platform, one result type and one renderer, so the CLI and
// the extension say the same thing about a removal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lifecycleFor, removalLines, removalSummary, statusLines, type RemovalResult } from '../../src/sandbox';

test('lifecycleFor: one lifecycle per platform; anything else is refused', async () => {
  for (const p of ['linux', 'win32'] as const) {
    const l = await lifecycleFor(p);
    for (const fn of ['describeSetUp', 'setUp', 'status', 'uninstall', 'removeWorkspace'] as const)
      assert.equal(typeof l[fn], 'function');
  }
  await assert.rejects(lifecycleFor('darwin' as never));
  await assert.rejects(
    (await lifecycleFor('linux')).removeWorkspace({ stateDir: '/nowhere', roots: ['/ws'] }),
    /only needed on Windows/,
  );
});

test('removal renderer: removed, kept with why, failed with why, then notes; the summary counts, and says to run again on failure', () => {
  const r: RemovalResult = {
    removed: ['/ws/.vscode'],
    kept: [{ path: '/ws/.git', reason: 'not empty' }],
    failed: [],
    notes: ['No administrator rights were needed.'],
  };
  assert.deepEqual(removalLines(r), [
    'removed /ws/.vscode',
    'kept /ws/.git: not empty',
    'No administrator rights were needed.',
  ]);
  assert.equal(removalSummary('Uninstall', r), 'Uninstall: done (1 removed, 1 kept).');
  const failed = { ...r, failed: [{ path: '/ws/.agent-sandbox', reason: 'EBUSY' }] };
  assert.ok(removalLines(failed).includes('could not remove /ws/.agent-sandbox: EBUSY'));
  assert.match(removalSummary('Uninstall', failed), /1 item\(s\) could not be removed; run it again/);
});

test("status lines: the backend's state and fix, and on Windows the elevated setup as read back", () => {
  const lines = statusLines({
    state: 'setup-needed',
    summary: 'Unelevated.',
    fix: 'Run setup.',
    details: { mode: 'unelevated' },
    windows: {
      state: 'setup-needed',
      summary: 'Not set up.',
      group: 'no',
      users: [],
      rules: [{ name: 'r', exists: 'no', matches: 'no' }],
      firewallPolicy: 'ok',
      firewall: { enforced: true, reasons: [] },
      notes: [],
    },
  });
  assert.deepEqual(lines.slice(0, 4), [
    'setup-needed: Unelevated.',
    'Fix: Run setup.',
    'mode: unelevated',
    'Elevated setup: setup-needed: Not set up.',
  ]);
  assert.ok(lines.includes('Firewall rule "r": exists no, as configured no'));
});
