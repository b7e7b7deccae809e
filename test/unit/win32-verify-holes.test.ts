// Unit: Verify's deliberate holes for the Windows probes. Each Windows probe that can be weakened names a hole of
// the test hook (./src/verify/holes); the hole changes exactly one thing in a copy of the plan, and the backend's
// own decisions honour it (UI settings, git's environment, the runner's request). The last tests run the probe
// battery through a backend that models how real Windows reacts to each missing protection (the reaction is
// modelled here; the rows, the plans and the backend helpers are the real ones), proving each hole fails exactly
// its probes. Whether Windows really reacts so is for Verify on a real machine, never Wine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { compilePlan, type Win32Plan } from '../../src/policy';
import type { SandboxBackend, SpawnSpec } from '../../src/sandbox/types';
import type { Plan } from '../../src/policy/plan';
import { applyHole, type HoleTargets } from '../../src/verify/holes';
import { windowsProbes, type WindowsVerifyFacts } from '../../src/verify/windows-probes';
import { runWindowsProbes } from '../../src/verify/windows-run';
import type { VerifyHole } from '../../src/verify/types';
import { weakenedUi } from '../../src/sandbox/windows/ui-isolation';
import { sandboxEnv } from '../../src/sandbox/windows/win-env';
import { runnerWeakening } from '../../src/sandbox/windows/elevated/backend';
import { Request } from '../../src/protocol/windows';
import { elevatedPlan } from './win32-elevated-plan-fixture';

const targets = {} as HoleTargets; // the Windows holes need no targets
const unelevated = () =>
  compilePlan(
    { workspaceRoots: ['C:\\ws'] },
    { platform: 'win32', home: 'C:\\Users\\dev', userTemp: 'C:\\t', env: {}, stateDir: 'C:\\s' },
  ) as Win32Plan;
const elevated = () => elevatedPlan(['C:\\ws'], { groupSid: 'S-1-5-21-1-1-1-1' });
const WIN_HOLES: VerifyHole[] = [
  'win-no-pseudoconsole',
  'win-own-sid',
  'win-no-private-desktop',
  'win-no-ui-limits',
  'win-no-safe-directory',
  'win-no-ancestor-traverse',
  'network',
];

test('each Windows hole changes a copy of the plan in exactly one place, never the plan it is given', () => {
  const changed = (hole: VerifyHole, plan: Win32Plan) => {
    const before = structuredClone(plan);
    const after = applyHole(plan, hole, targets) as Win32Plan;
    assert.deepEqual(plan, before, `${hole}: the given plan is untouched`);
    return Object.keys(after).filter(
      (k) => JSON.stringify(after[k as keyof Win32Plan]) !== JSON.stringify(plan[k as keyof Win32Plan]),
    );
  };
  const p = elevated();
  assert.deepEqual(changed('win-no-pseudoconsole', p), ['weakened']);
  assert.deepEqual(changed('win-no-private-desktop', p), ['weakened']);
  assert.deepEqual(changed('win-no-ui-limits', p), ['weakened']);
  assert.deepEqual(changed('win-no-safe-directory', p), ['weakened']);
  assert.deepEqual(changed('win-own-sid', p), ['token']);
  assert.deepEqual(changed('win-no-ancestor-traverse', p), ['acl']);
  const denied = (applyHole(p, 'win-no-ancestor-traverse', targets) as Win32Plan).acl.at(-1)!;
  assert.deepEqual(
    [denied.path, denied.action, denied.sid, denied.mask.value, denied.inheritance.value],
    ['C:\\', 'deny', p.accounts!.group, 0x1 | 0x20 | 0x80, 0],
    "the workspace's parent: traverse, listing and attributes denied to the group, not inherited",
  );
  assert.throws(() => applyHole(unelevated(), 'win-no-ancestor-traverse', targets), /only for elevated Windows/);
  assert.deepEqual(changed('network', p).sort(), ['network', 'token']);
  const noOwn = applyHole(p, 'win-own-sid', targets) as Win32Plan;
  assert.ok(
    p.token.restrictingSids.some((s) => s.kind === 'sandbox-user'),
    'the elevated plan has its own SID',
  );
  assert.ok(!noOwn.token.restrictingSids.some((s) => s.kind === 'sandbox-user'));
  const online = applyHole(p, 'network', targets) as Win32Plan;
  assert.equal(online.network, 'online');
  assert.ok(online.token.restrictingSids.every((s) => s.kind !== 'sandbox-user' || s.network === 'online'));
  assert.equal(unelevated().weakened, undefined, 'compile never weakens');
});

test('the backend honours the weakenings: UI settings, git environment, the runner request (and nothing without them)', () => {
  const ui = { desktop: 'WinSta0\\as-1', uiLimits: true, breakaway: false };
  assert.deepEqual(weakenedUi(ui, undefined), ui);
  assert.deepEqual(weakenedUi(ui, { noPrivateDesktop: true }), { uiLimits: true, breakaway: false });
  assert.deepEqual(weakenedUi(ui, { noUiLimits: true }), { ...ui, uiLimits: false });
  const safeDirs = (p: Win32Plan) =>
    Object.entries(sandboxEnv(p, {})).filter(([k, v]) => k.startsWith('GIT_CONFIG_KEY_') && v === 'safe.directory');
  assert.equal(safeDirs(elevated()).length, 1, 'control: elevated gives safe.directory');
  assert.equal(safeDirs(applyHole(elevated(), 'win-no-safe-directory', targets) as Win32Plan).length, 0);
  assert.deepEqual(runnerWeakening(elevated()), {}, 'no weakening: the request carries none');
  const w = runnerWeakening(
    applyHole(applyHole(elevated(), 'win-no-pseudoconsole', targets), 'win-no-ui-limits', targets) as Win32Plan,
  );
  assert.deepEqual(w, { weakened: { noPseudoconsole: true, noUiLimits: true } });
  const msg = {
    type: 'spawn',
    id: 1,
    argv: ['x'],
    cwd: 'C:\\ws',
    env: {},
    ...w,
    token: { flags: 0, restrictingSids: [], keepPrivileges: [], defaultDacl: [] },
  };
  assert.deepEqual(Request.parse(msg), msg, "the runner's protocol accepts it");
});

const facts = (mode: 'elevated' | 'unelevated'): WindowsVerifyFacts => ({
  mode,
  network: 'offline',
  wine: false,
  ui: { privateDesktop: true, uiLimits: true, breakaway: false, gaps: [] },
  firewall: { enforced: true, reasons: [] },
});

test('every Windows probe Verify runs either names a hole of the test hook, or says why none can be made', () => {
  for (const mode of ['elevated', 'unelevated'] as const) {
    for (const network of ['offline', 'online'] as const) {
      for (const p of windowsProbes({ ...facts(mode), network })) {
        if (p.expect === 'not-checked') continue;
        if (p.hole) {
          assert.ok(WIN_HOLES.includes(p.hole), `${mode}/${network} ${p.id}: ${p.hole} is a Windows hole`);
          const plan = mode === 'elevated' ? elevated() : unelevated();
          assert.notDeepEqual(applyHole(plan, p.hole, targets), plan, `${p.id}: its hole changes the plan`);
          continue;
        }
        const why = `${mode}/${network} ${p.id}`;
        const allowed =
          /no hole/.test(p.why) ||
          (network === 'online' && p.expect === 'works') ||
          (p.id === 'git-status' && mode === 'unelevated');
        assert.ok(allowed, `${why} has neither a hole nor a reason: ${p.why}`);
      }
    }
  }
});

/**
 * A backend standing for real Windows: it applies the plan it is given through the real helpers, and answers as
 * Windows does when a protection is missing (the modelled part): a console program without a console dies with
 * 0xC0000142; default-security pipes are EPERM without the account's own restricting SID; the clipboard reads
 * without UI limits; git refuses the repository without safe.directory; the offline firewall rules do not cover
 * the online account's direct connections; unelevated, the token keeps your logon SID, so Default's DACL admits
 * it and only the job's DESKTOP/HANDLES limits stop the desktop escape reaching `target` (elevated: Default's DACL
 * does not admit the account's logon).
 */
function windowsLike(target?: { posted: string }): SandboxBackend {
  return {
    platform: 'win32',
    async spawn(plan: Plan, spec: SpawnSpec) {
      const p = plan as Win32Plan;
      const a = spec.argv.join(' ');
      const ui = weakenedUi({ desktop: 'WinSta0\\x', uiLimits: true, breakaway: false }, p.weakened);
      const env = sandboxEnv(p, {});
      // Node's realpath lstats each ancestor of the workspace: it fails where the group may not read their attributes.
      const ancestorDenied = p.acl.some(
        (op) =>
          op.action === 'deny' &&
          (op.mask.value & 0x80) !== 0 &&
          p.workspaceRoots[0].toLowerCase().startsWith(op.path.toLowerCase().replace(/\\?$/, '\\')),
      );
      if (a.includes('OpenDesktop') && target && p.windowsMode === 'unelevated' && !ui.uiLimits) target.posted += 'q';
      const code = a.includes('OpenDesktop')
        ? p.windowsMode === 'unelevated' && !ui.uiLimits
          ? 0
          : 2
        : a.includes('realpathSync') && ancestorDenied
          ? 1
          : /^(cmd\.exe \/d \/s|powershell\.exe .* 1$|node\.exe -e 0$)/.test(a) && p.weakened?.noPseudoconsole
            ? 3221225794
            : a.includes('spawnSync')
              ? p.windowsMode === 'elevated' && !p.token.restrictingSids.some((s) => s.kind === 'sandbox-user')
                ? 1
                : 0
              : a.includes('Get-Clipboard')
                ? ui.uiLimits
                  ? 1
                  : 0
                : a.startsWith('git ')
                  ? p.windowsMode === 'elevated' && !Object.values(env).includes('safe.directory')
                    ? 128
                    : 0
                  : a.includes("connect(443,'1.1.1.1')")
                    ? p.network === 'online'
                      ? 0
                      : 1
                    : // DNS and SMB through Windows services: modelled as a machine where they get no answer (on
                      // real Windows they may, which is the documented gap Verify then reports as a failed row).
                      /Resolve-DnsName|^net\.exe view/.test(a)
                      ? 1
                      : 0;
      return {
        stdin: new PassThrough(),
        stdout: new PassThrough(),
        stderr: new PassThrough(),
        kill() {},
        exited: Promise.resolve({ code, signal: null, timedOut: false }),
        enforcement: { filesystem: 'enforced', network: 'enforced', notes: [] },
      } as never;
    },
  } as never;
}

test('each hole fails exactly the Windows probes naming it; without a hole every run probe passes (Windows reaction modelled)', async () => {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'as-winholes-'));
  fs.mkdirSync(path.join(ws, '.git'));
  try {
    for (const mode of ['elevated', 'unelevated'] as const) {
      const plan = mode === 'elevated' ? elevated() : unelevated();
      const probes = windowsProbes(facts(mode));
      const window = () => {
        const t = { hwnd: 0x10abcn, posted: '', shown: '', close() {}, text: () => t.shown };
        return Object.assign(t, { pump: () => ((t.shown += t.posted), (t.posted = '')) });
      };
      const w0 = window();
      const clean = await runWindowsProbes(windowsLike(w0), plan, ws, facts(mode), undefined, () => w0);
      assert.ok(clean.rows.length > 0 && clean.rows.every((r) => r.pass), `${mode}: ${JSON.stringify(clean.rows)}`);
      assert.ok(
        clean.rows.some((r) => r.id === 'windows-input-injection'),
        'the desktop escape probe ran',
      );
      for (const hole of new Set(probes.flatMap((p) => (p.hole ? [p.hole] : [])))) {
        const w = window();
        const r = await runWindowsProbes(
          windowsLike(w),
          applyHole(plan, hole, targets),
          ws,
          facts(mode),
          undefined,
          () => w,
        );
        const failed = [...new Set(r.rows.filter((x) => !x.pass).map((x) => x.id.replace(/^windows-|-tty$/g, '')))];
        const named = probes.filter((p) => p.hole === hole).map((p) => p.id);
        assert.deepEqual(failed.sort(), named.sort(), `${mode}: ${hole} fails exactly its probes`);
      }
    }
  } finally {
    fs.rmSync(ws, { recursive: true, force: true });
  }
});
