// What the surfaces say on an elevated Windows configuration. The backend is a stand-in at the lifecycle boundary
// (its planFacts() says setup is done; its spawn starts nothing and reports what the elevated backend enforces), so
// this checks the wiring: facts decided before compiling, the CLI's warning and Verify's notes read from the spawned
// process. It proves nothing about Windows enforcement itself (that needs real Windows: see Verify).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { Plan, PlanFacts, Win32Plan } from '../../src/policy';
import type { Enforcement, SandboxBackend, SandboxProcess } from '../../src/sandbox/types';
import { withProblems } from '../../src/sandbox/types';
import { runWith } from '../../src/cli/run-command';
import { elevatedEnforcement, unelevatedEnforcement } from '../../src/sandbox/windows/enforcement';
import { verifyNotes } from '../../src/verify';
import { enforcementGaps } from '../../src/verify/checks';

const GROUP_SID = 'S-1-5-21-9-9-9-1000';
const ctx = {
  platform: 'win32' as const,
  home: 'C:\\Users\\dev',
  userTemp: 'C:\\Users\\dev\\AppData\\Local\\Temp',
  env: {},
  stateDir: 'C:\\Users\\dev\\AppData\\Local\\AgentSandbox',
  fs: undefined,
};

/** A backend whose facts and enforcement are given; spawn records the plan and ends at once. */
function standIn(facts: PlanFacts, enforcementFor: (plan: Win32Plan) => Enforcement) {
  const spawned: Plan[] = [];
  const backend: SandboxBackend = {
    platform: 'win32',
    status: async () => ({ state: 'ready', summary: '', details: {} }),
    planFacts: async () => facts,
    async spawn(plan): Promise<SandboxProcess> {
      spawned.push(plan);
      return {
        stdin: new PassThrough(),
        stdout: new PassThrough(),
        stderr: new PassThrough(),
        kill: () => undefined,
        exited: Promise.resolve({ code: 0, timedOut: false, durationMs: 0 }),
        enforcement: enforcementFor(plan as Win32Plan),
      };
    },
    enforcement: () => assert.fail("surfaces read the spawned process's enforcement, never the backend's"),
    dispose: async () => undefined,
  };
  return { backend, spawned };
}

async function cliRun(backend: SandboxBackend) {
  const warnings: string[] = [];
  const { plan, proc } = await runWith(
    backend,
    { workspaceRoots: ['C:\\Users\\dev\\repo'] },
    ctx,
    { argv: ['cmd', '/c', 'exit 0'], cwd: 'C:\\Users\\dev\\repo', stdio: 'pipe' },
    (l) => warnings.push(l),
  );
  return { plan: plan as Win32Plan, proc, warnings };
}

test("elevated configuration: the CLI compiles with the backend's facts, so the plan that runs is elevated, and its warning describes elevated mode", async () => {
  const elevated = standIn({ windowsMode: 'elevated', groupSid: GROUP_SID }, (p) => elevatedEnforcement(p, false));
  const { plan, warnings } = await cliRun(elevated.backend);
  assert.equal(elevated.spawned.length, 1);
  assert.equal(plan.windowsMode, 'elevated');
  assert.deepEqual(plan.accounts?.group, { kind: 'literal', sid: GROUP_SID, name: 'AgentSandboxUsers' });
  assert.deepEqual(warnings, [], 'nothing weaker than asked: no unelevated advisory-offline or read warning');
  // A preparation problem in elevated mode is still said, on its own.
  const withProblem = standIn({ windowsMode: 'elevated', groupSid: GROUP_SID }, (p) =>
    withProblems(elevatedEnforcement(p, false), ['Could not grant the sandbox write access to C:\\x.']),
  );
  assert.deepEqual((await cliRun(withProblem.backend)).warnings, [
    'agent-sandbox: warning: Could not grant the sandbox write access to C:\\x.\n',
  ]);
  // Control: the same machine without setup warns about unelevated mode.
  const unelevated = standIn({ windowsMode: 'unelevated' }, (p) => unelevatedEnforcement(p, false));
  const u = await cliRun(unelevated.backend);
  assert.equal(u.plan.windowsMode, 'unelevated');
  assert.ok(
    u.warnings.some((w) => /Offline mode without the one-time administrator setup/.test(w)),
    u.warnings.join(''),
  );
  assert.ok(u.warnings.some((w) => /reads are not restricted in unelevated mode/.test(w)));
});

test('elevated configuration: Verify\'s notes and its "not enforced in this mode" gaps describe elevated mode, from the probe process\'s enforcement', async () => {
  const elevated = standIn({ windowsMode: 'elevated', groupSid: GROUP_SID }, (p) => elevatedEnforcement(p, false));
  const { plan, proc } = await cliRun(elevated.backend);
  const notes = verifyNotes(plan, proc.enforcement, []);
  assert.ok(
    notes.some((n) => /Commands run as AgentSandboxOffline/.test(n)),
    notes.join('\n'),
  );
  assert.ok(notes.some((n) => /blocked by a Windows Firewall rule/.test(n)));
  assert.ok(!notes.some((n) => /not restricted|advisory/i.test(n)), notes.join('\n'));
  assert.deepEqual(
    [...enforcementGaps(plan, proc.enforcement)],
    [],
    'a deny-read or network hole would be a failure, not a gap',
  );
  // Control: unelevated, the notes and gaps say what that mode does not enforce.
  const unelevated = standIn({ windowsMode: 'unelevated' }, (p) => unelevatedEnforcement(p, false));
  const u = await cliRun(unelevated.backend);
  const uNotes = verifyNotes(u.plan, u.proc.enforcement, []);
  assert.ok(uNotes.some((n) => /Reads are not restricted/.test(n)));
  assert.deepEqual([...enforcementGaps(u.plan, u.proc.enforcement)].sort(), ['deny-read', 'network']);
});
