import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CREDENTIALS_FILE } from '../../src/sandbox/windows/setup/constants';
import { elevationCommand } from '../../src/sandbox/windows/setup/elevation-command';
import { runtimeDirs } from '../../src/sandbox/windows/setup/runtime-dirs';
import { profileTraverseFolders } from '../../src/sandbox/windows/setup/profile-traverse';
import { buildSetupPlan } from '../../src/sandbox/windows/setup/setup-plan';
import { elevatedPlan } from './win32-elevated-plan-fixture';
import { performElevated } from '../../src/sandbox/windows/setup/elevated-action';
import { readStatus } from '../../src/sandbox/windows/setup/status';
import {
  backendPreparation,
  checkElevatedPlan,
  createElevatedBackend,
  runnerEnvironment,
  runnerSid,
} from '../../src/sandbox/windows/elevated/backend';
import { commandEnv } from '../../src/runner/windows/launcher';
import { compilePlan } from '../../src/policy';
import type { Win32Plan } from '../../src/policy/plan';
import type { ElevatedRequest } from '../../src/sandbox/windows/setup/payload';
import { FakeMachine } from './elevated-fake-machine';

const payload = 'asb1.eyJ2ZXJzaW9uIjoxfQ';

test('elevation command: plain Node runs the script directly; under Electron cmd.exe sets ELECTRON_RUN_AS_NODE first', () => {
  assert.deepEqual(
    elevationCommand({
      execPath: 'C:\\node\\node.exe',
      script: 'C:\\x y\\runner.js',
      payload,
      electron: false,
      comspec: 'C:\\Windows\\System32\\cmd.exe',
    }),
    { file: 'C:\\node\\node.exe', parameters: `"C:\\x y\\runner.js" --elevated ${payload}` },
  );
  assert.deepEqual(
    elevationCommand({
      execPath: 'C:\\Program Files\\Microsoft VS Code\\Code.exe',
      script: 'C:\\ext\\dist\\runner.js',
      payload,
      electron: true,
      comspec: 'C:\\Windows\\System32\\cmd.exe',
    }),
    {
      file: 'C:\\Windows\\System32\\cmd.exe',
      parameters: `/d /s /c "set ELECTRON_RUN_AS_NODE=1&& "C:\\Program Files\\Microsoft VS Code\\Code.exe" "C:\\ext\\dist\\runner.js" --elevated ${payload}"`,
    },
  );
});

test('elevation command: payloads that are not base64url and paths cmd.exe would expand are refused', () => {
  const base = { execPath: 'C:\\n\\node.exe', script: 'C:\\r.js', payload, electron: true, comspec: 'C:\\cmd.exe' };
  assert.throws(() => elevationCommand({ ...base, payload: 'asb1.a&calc' }), /base64url/);
  assert.throws(() => elevationCommand({ ...base, script: 'C:\\%PATH%\\r.js' }), /containing/);
  assert.throws(() => elevationCommand({ ...base, execPath: 'C:\\a!b\\Code.exe' }), /containing/);
});

test('runtime dirs: the runtime folder and the git install root, skipping what builtin Users can already read', () => {
  const env = {
    PATH: 'C:\\Windows\\system32;"C:\\Users\\dev\\AppData\\Local\\Programs\\Git\\cmd"',
    ProgramFiles: 'C:\\Program Files',
    SystemRoot: 'C:\\Windows',
  };
  const exists = (p: string) => p === 'C:\\Users\\dev\\AppData\\Local\\Programs\\Git\\cmd\\git.exe';
  assert.deepEqual(
    runtimeDirs({ execPath: 'C:\\Users\\dev\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe', env, exists }),
    {
      dirs: [
        'C:\\Users\\dev\\AppData\\Local\\Programs\\Microsoft VS Code',
        'C:\\Users\\dev\\AppData\\Local\\Programs\\Git',
      ],
      alreadyReadable: [],
    },
  );
  assert.deepEqual(
    runtimeDirs({
      execPath: 'C:\\Program Files\\nodejs\\node.exe',
      env: { ProgramFiles: 'C:\\Program Files' },
      exists: () => false,
    }),
    { dirs: [], alreadyReadable: ['C:\\Program Files\\nodejs'] },
  );
});

const fsView = {
  realpath: (p: string) => p,
  kind: (p: string) => (p.includes('.git') || p.includes('.vscode') ? ('missing' as const) : ('dir' as const)),
};
const GROUP_SID = 'S-1-5-21-9-9-9-1000';
const marker = { version: 1, groupSid: GROUP_SID, offlineSid: 'S-1-5-21-9-9-9-2', onlineSid: 'S-1-5-21-9-9-9-3' };

function win32Plan(network: 'offline' | 'online' = 'offline'): Win32Plan {
  return compilePlan(
    { workspaceRoots: ['C:\\src\\app'], network },
    {
      platform: 'win32',
      home: 'C:\\Users\\dev',
      userTemp: 'C:\\Users\\dev\\AppData\\Local\\Temp',
      env: {},
      stateDir: 'C:\\Users\\dev\\AppData\\Local\\AgentSandbox',
      fs: fsView,
    },
  ) as Win32Plan;
}

test("elevated plan: compile-win32 plans the group's grants on the writable roots and temp with the group SID from the facts, and nothing symbolic is left for the backend to fill in", () => {
  const unelevated = win32Plan();
  const e = elevatedPlan(['C:\\src\\app'], { groupSid: GROUP_SID, fs: fsView });
  assert.equal(e.windowsMode, 'elevated');
  assert.equal(e.networkEnforcement, 'firewall');
  const groupOps = e.acl.filter((op) => op.sid.kind === 'literal' && op.sid.sid === GROUP_SID);
  assert.deepEqual(
    groupOps.map((o) => [o.path, o.reason, o.action]),
    [...e.writableRoots.map((r) => [r, 'writable-root', 'grant']), [e.tempDir, 'temp-dir', 'grant']],
  );
  assert.ok(
    groupOps.every((o) => (o.mask.value & 0x40) === 0),
    'no FILE_DELETE_CHILD',
  );
  assert.equal(
    e.acl.length,
    unelevated.acl.length + groupOps.length,
    'nothing else is added to the unelevated operations',
  );
  assert.ok(!JSON.stringify(e).includes('sandbox-group'));
  assert.equal(
    elevatedPlan(['C:\\src\\app'], { groupSid: GROUP_SID }, { network: 'online' }).networkEnforcement,
    'none',
  );
});

test("one plan for setup and the elevated backend: setup applies the plan's own firewall rules, accounts and group grants; the backend prepares the rest of the same plan and refuses a plan for another mode or setup", () => {
  const plan = elevatedPlan(['C:\\src\\app'], { groupSid: GROUP_SID, fs: fsView, runtimeDirs: ['C:\\Tools\\VS Code'] });
  const setup = buildSetupPlan({ plan, home: 'C:\\Users\\dev' });
  // The firewall rules: the plan's, field for field, as COM writes them.
  assert.ok(plan.firewall.length > 1);
  assert.deepEqual(
    setup.firewall.map((r) => [r.id, r.name, r.description, r.remoteAddresses, r.remotePorts, r.user]),
    plan.firewall.map((r) => [
      r.id,
      r.name,
      r.description,
      r.remoteAddresses,
      r.remotePorts,
      r.user.kind === 'sandbox-user' ? r.user.network : '?',
    ]),
  );
  // The accounts: the plan's.
  assert.deepEqual(
    setup.users.map((u) => [u.name, u.network]),
    plan.accounts!.users.map((u) => [u.name, u.network]),
  );
  // The group's grants: exactly the plan's runtime and writable-root grants for the group, masks included.
  const planGrants = plan.acl.filter(
    (op) =>
      op.sid.kind === 'literal' &&
      op.sid.sid === GROUP_SID &&
      (op.reason === 'runtime-read' || op.reason === 'writable-root'),
  );
  assert.deepEqual(
    setup.grants
      .filter((g) => g.reason !== 'profile-traverse')
      .map((g) => [g.path, g.reason, g.mask.value])
      .sort(),
    planGrants.map((g) => [g.path, g.reason, g.mask.value]).sort(),
  );
  // Plus traverse-only ACEs above the plan's temp folder, the one target inside the profile here.
  assert.deepEqual(
    setup.grants.filter((g) => g.reason === 'profile-traverse').map((g) => g.path),
    profileTraverseFolders([plan.tempDir], 'C:\\Users\\dev'),
  );
  assert.ok(setup.grants.some((g) => g.reason === 'runtime-read' && g.path === 'C:\\Tools\\VS Code'));
  // The backend prepares everything else of the same plan, and leaves the runtime grants to setup.
  const backendOps = backendPreparation(plan).acl;
  assert.deepEqual(
    backendOps,
    plan.acl.filter((op) => op.reason !== 'runtime-read'),
  );
  assert.ok(
    backendOps.some((op) => op.reason === 'writable-root' && op.sid.kind === 'literal' && op.sid.sid === GROUP_SID),
  );
  assert.equal(checkElevatedPlan(plan, marker), plan);
  // Control: a plan compiled without the facts, or for another setup's group, is refused, never rewritten.
  assert.throws(() => checkElevatedPlan(win32Plan(), marker), /not compiled for this machine/);
  assert.throws(
    () => checkElevatedPlan(elevatedPlan(['C:\\src\\app'], { groupSid: 'S-1-5-21-1-1-1-1' }), marker),
    /not compiled/,
  );
  assert.throws(() => checkElevatedPlan(elevatedPlan(['C:\\src\\app']), marker), /not compiled/);
});

test('elevated backend: an allowlist command with an invalid grant is refused before anything starts; control: a valid grant gets past the check', async () => {
  const marker = {
    version: 2,
    groupSid: 'S-1-5-21-7-7-7-1000',
    offlineSid: 'S-1-5-21-7-7-7-1001',
    onlineSid: 'S-1-5-21-7-7-7-1002',
  };
  let launched = 0;
  const backend = createElevatedBackend(
    { stateDir: 'C:\\state' },
    marker,
    () => async () => {
      launched++;
      throw new Error('stop: the runner would start here');
    },
    undefined,
    async () => ({ enforced: true, reasons: [] }),
  );
  const spec = { argv: ['cmd', '/c', 'exit 0'], cwd: 'C:\\src\\app', stdio: 'pipe' as const };
  const allowlist = elevatedPlan(
    ['C:\\src\\app'],
    { groupSid: marker.groupSid },
    { network: 'allowlist', allowedDomains: ['@npm'] },
  );
  await assert.rejects(
    backend.spawn(allowlist, { ...spec, allowDomains: ['http://x'] }),
    (e: Error & { code?: string }) => /allowDomains\[0\]/.test(e.message) && e.code === 'invalid-policy',
  );
  assert.equal(launched, 0, 'nothing was started for the refused grant');
  // Control: a valid grant passes the check and goes on to read this process's identity (which fails here: not
  // Windows), so the refusal above is the grant check, and the allowlist itself is no longer refused.
  await assert.rejects(
    backend.spawn(allowlist, { ...spec, allowDomains: ['example.org'] }),
    (e: Error & { code?: string }) => !/allowDomains|allowlist/.test(e.message) && e.code !== 'invalid-policy',
  );
  await backend.dispose();
});

test('elevated backend: offline and allowlist commands are refused while the firewall is not enforcing, with the reason and the fix; the verdict is read again before every command; requireEnforcedFirewall false runs them; online is not checked', async () => {
  const marker = {
    version: 2,
    groupSid: 'S-1-5-21-7-7-7-1000',
    offlineSid: 'S-1-5-21-7-7-7-1001',
    onlineSid: 'S-1-5-21-7-7-7-1002',
  };
  let verdict = { enforced: true, reasons: [] as string[] };
  let reads = 0;
  let launched = 0;
  const backend = createElevatedBackend(
    { stateDir: 'C:\\state' },
    marker,
    () => async () => {
      launched++;
      throw new Error('stop: the runner would start here');
    },
    async () => ({ ruleOk: true, firewall: verdict }),
    async () => {
      reads++;
      return verdict;
    },
  );
  const spec = { argv: ['cmd', '/c', 'exit 0'], cwd: 'C:\\src\\app', stdio: 'pipe' as const };
  const plan = (input: object = {}) => elevatedPlan(['C:\\src\\app'], { groupSid: marker.groupSid }, input);
  const refused = (e: Error & { code?: string; fix?: string }) =>
    e.code === 'firewall-not-enforced' &&
    /off for the active Public profile/.test(e.message) &&
    /Firewall on for every network profile/.test(e.fix ?? '') &&
    /remove the override/.test(e.fix ?? '') &&
    /agent-sandbox setup/.test(e.fix ?? '') &&
    /requireEnforcedFirewall/.test(e.fix ?? '');
  // Enforced: the command gets past the check (and fails later, reading this process's identity: not Windows).
  await assert.rejects(
    backend.spawn(plan(), spec),
    (e: Error & { code?: string }) => e.code !== 'firewall-not-enforced',
  );
  assert.equal(reads, 1);
  // The firewall is turned off mid-session: the very next offline command is refused, before anything starts.
  verdict = { enforced: false, reasons: ['Windows Defender Firewall is off for the active Public profile'] };
  await assert.rejects(backend.spawn(plan(), spec), refused);
  await assert.rejects(backend.spawn(plan({ network: 'allowlist', allowedDomains: ['@npm'] }), spec), refused);
  assert.equal(reads, 3, 'read again for every command');
  assert.equal(launched, 0, 'no runner was started for a refused command');
  // The user accepted it: the command goes on (to the same later failure), reported as not enforced (below).
  const accepted = plan({ requireEnforcedFirewall: false });
  assert.equal(accepted.acceptUnenforcedFirewall, true);
  await assert.rejects(
    backend.spawn(accepted, spec),
    (e: Error & { code?: string }) => e.code !== 'firewall-not-enforced',
  );
  assert.equal(backend.enforcement(accepted).network, 'none');
  // Online: not checked, not refused.
  const before = reads;
  await assert.rejects(
    backend.spawn(plan({ network: 'online' }), spec),
    (e: Error & { code?: string }) => e.code !== 'firewall-not-enforced',
  );
  assert.equal(reads, before);
  assert.equal(plan({ network: 'online', requireEnforcedFirewall: false }).acceptUnenforcedFirewall, undefined);
  await backend.dispose();
});

test('runner SIDs: logon stays symbolic for the runner, capability and sandbox SIDs are resolved', () => {
  const id = {
    userSid: 'S-1-5-21-1-1-1-1001',
    logonSid: 'S-1-5-5-0-1',
    capabilities: { 'c:\\src\\app': 'S-1-5-21-5-5-5-5' },
  };
  assert.equal(runnerSid({ kind: 'logon' }, id, marker), 'logon');
  assert.equal(runnerSid({ kind: 'capability', root: 'C:\\src\\app' }, id, marker), 'S-1-5-21-5-5-5-5');
  assert.equal(runnerSid({ kind: 'sandbox-user', network: 'online' }, id, marker), 'S-1-5-21-9-9-9-3');
  assert.throws(() => runnerSid({ kind: 'capability', root: 'D:\\other' }, id, marker), /No capability SID/);
});

test("runner environment: only system variables plus ELECTRON_RUN_AS_NODE; the command gets the runner's own profile paths", () => {
  const env = runnerEnvironment({
    SystemRoot: 'C:\\Windows',
    Path: 'C:\\bin',
    USERPROFILE: 'C:\\Users\\dev',
    GITHUB_TOKEN: 'x',
    APPDATA: 'C:\\Users\\dev\\AppData\\Roaming',
  });
  assert.deepEqual(env, { ELECTRON_RUN_AS_NODE: '1', SystemRoot: 'C:\\Windows', Path: 'C:\\bin' });
  assert.deepEqual(
    commandEnv(
      { PATH: 'C:\\bin', userprofile: 'C:\\Users\\dev', APPDATA: 'C:\\Users\\dev\\x' },
      { USERPROFILE: 'C:\\Users\\AgentSandboxOffline', APPDATA: 'C:\\Users\\AgentSandboxOffline\\AppData\\Roaming' },
    ),
    {
      PATH: 'C:\\bin',
      USERPROFILE: 'C:\\Users\\AgentSandboxOffline',
      APPDATA: 'C:\\Users\\AgentSandboxOffline\\AppData\\Roaming',
    },
  );
});

const req = (action: 'setup' | 'uninstall'): ElevatedRequest => ({
  version: 1,
  action,
  pipe: '\\\\.\\pipe\\agent-sandbox-setup-x',
  nonce: 'ab'.repeat(16),
  stateDir: 'C:\\state',
  home: 'C:\\Users\\dev',
  grants: [
    {
      path: 'C:\\src\\app',
      sid: 'sandbox-group',
      mask: { value: 0x1, names: [] },
      inheritance: { value: 3, names: [] },
      reason: 'writable-root',
    },
  ],
});

test('elevated action: setup echoes the nonce and returns passwords only for accounts whose step completed', async () => {
  const m = new FakeMachine();
  const ok = await performElevated(req('setup'), m, () => 'Pw-aaaaaaaaaaaaaaaaaaaaaaaaaaa1!');
  assert.equal(ok.ok, true);
  assert.equal(ok.nonce, 'ab'.repeat(16));
  assert.deepEqual(
    ok.users.map((u) => u.network),
    ['offline', 'online'],
  );
  assert.equal(m.ledger[0].path, 'C:\\src\\app');
  const broken = new FakeMachine();
  broken.failAt = 11; // inside the online account's step (its creation)
  const partial = await performElevated(req('setup'), broken, () => 'Pw-aaaaaaaaaaaaaaaaaaaaaaaaaaa1!');
  assert.equal(partial.ok, false);
  const failed = partial.steps.find((s) => s.status === 'failed')!;
  assert.equal(failed.id, 'user-online');
  assert.deepEqual(
    partial.users.map((u) => u.network),
    ['offline'],
  );
});

test('elevated action: uninstall reports leftovers after re-querying, and status reads the machine honestly', async () => {
  const m = new FakeMachine();
  await performElevated(req('setup'), m, () => 'Pw-aaaaaaaaaaaaaaaaaaaaaaaaaaa1!');
  const status = await readStatus(m, '/nonexistent-state-dir');
  assert.equal(status.state, 'incomplete', 'no stored passwords for this user yet');
  assert.match(status.summary, /stored password/);
  assert.equal(status.rules[0].matches, 'yes');
  m.unreadable = true;
  assert.equal((await readStatus(m, '/nonexistent-state-dir')).rules[0].matches, 'no');
  m.unreadable = false;
  // With this user's credentials stored (the file only; status never decrypts), the firewall policy decides.
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-status-'));
  const users = Object.fromEntries(
    (['offline', 'online'] as const).map((n) => {
      const name = n === 'offline' ? 'AgentSandboxOffline' : 'AgentSandboxOnline';
      return [n, { name, sid: m.users.get(name)!.sid, blob: '' }];
    }),
  );
  fs.writeFileSync(path.join(stateDir, CREDENTIALS_FILE), JSON.stringify({ version: 1, users }));
  assert.equal((await readStatus(m, stateDir)).state, 'ready', 'control: ready with the policy OK');
  m.modify = 'per-profile';
  const perProfile = await readStatus(m, stateDir);
  assert.equal(perProfile.firewallPolicy, 'per-profile');
  assert.equal(perProfile.state, 'incomplete', 'local rules applied in some profiles only is not ready');
  assert.match(perProfile.summary, /some profiles only/);
  fs.rmSync(stateDir, { recursive: true, force: true });
  m.modify = 'gp-override';
  const un = await performElevated(req('uninstall'), m);
  assert.equal(un.ok, true, JSON.stringify(un.steps));
  assert.deepEqual(un.leftovers, []);
  assert.equal((await readStatus(m, '/nonexistent-state-dir')).state, 'setup-needed');
});
