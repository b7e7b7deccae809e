/**
 * What the elevated setup looks like on this machine right now, read without elevation: the marker and its
 * version, each account and whether this user holds its credentials, the group, the firewall rule as read back,
 * and whether the firewall policy lets our rule take effect. Anything that cannot be read is reported as unknown,
 * never as fine.
 */
import * as os from 'node:os';
import type { Network } from '../../../policy';
import { GROUP_NAME, SANDBOX_USERS, SETUP_VERSION } from './constants';
import { storedAccounts } from './credentials';
import type { SetupMachine } from './machine';
import { ruleMatches } from './setup-steps';
import { evaluateFirewall, firewallNote, type FirewallVerdict } from '../firewall-state';
import { buildSetupPlan, ruleUserSddl } from './setup-plan';

export type Tri = 'yes' | 'no' | 'unknown';

export interface WindowsSandboxStatus {
  state: 'ready' | 'setup-needed' | 'outdated' | 'incomplete' | 'unsupported';
  summary: string;
  fix?: string;
  version?: number;
  group: Tri;
  users: { network: Network; name: string; exists: Tri; sid?: string; credentials: boolean }[];
  rules: { name: string; exists: Tri; matches: Tri }[];
  /** `gp-override` means Group Policy ignores local rules, ours included. */
  firewallPolicy: 'ok' | 'gp-override' | 'inbound-blocked' | 'unknown';
  /** Whether a firewall rule blocks anything here now (firewall on for the active profiles, local rules applied). */
  firewall: FirewallVerdict;
  notes: string[];
}

/** Runs one read; a failure becomes a note and `failed`, so "could not read" is never mistaken for "absent". */
async function probe<T>(f: () => Promise<T>, notes: string[], what: string): Promise<{ value?: T; failed: boolean }> {
  try {
    return { value: await f(), failed: false };
  } catch (e) {
    notes.push(`Could not read ${what}: ${(e as Error).message}`);
    return { failed: true };
  }
}

const tri = (r: { value?: unknown; failed: boolean }, present = (v: unknown) => Boolean(v)): Tri =>
  r.failed ? 'unknown' : present(r.value) ? 'yes' : 'no';

export async function readStatus(m: SetupMachine, stateDir: string): Promise<WindowsSandboxStatus> {
  const notes: string[] = [];
  const marker = (await probe(() => m.readMarker(), notes, 'the setup marker')).value;
  const creds = (await probe(async () => storedAccounts(stateDir), notes, 'the stored credentials')).value ?? {};
  const group = await probe(() => m.lookupGroup(GROUP_NAME), notes, 'the group');
  const users = [];
  for (const network of ['offline', 'online'] as const) {
    const info = await probe(
      () => m.lookupUser(SANDBOX_USERS[network]),
      notes,
      `the account ${SANDBOX_USERS[network]}`,
    );
    users.push({
      network,
      name: SANDBOX_USERS[network],
      exists: tri(info),
      ...(info.value ? { sid: info.value.sid } : {}),
      credentials: Boolean(creds[network]),
    });
  }
  const plan = buildSetupPlan({ home: os.homedir() });
  const rules = [];
  for (const r of plan.firewall) {
    const back = await probe(() => m.getRules(r.name), notes, `the firewall rule "${r.name}"`);
    const sid = users.find((u) => u.network === r.user)?.sid;
    const found = back.value?.[0];
    rules.push({
      name: r.name,
      exists: tri(back, (v) => (v as unknown[]).length > 0),
      matches: found && sid ? ((ruleMatches(found, r, ruleUserSddl(sid)) ? 'yes' : 'no') as Tri) : ('unknown' as Tri),
    });
  }
  const firewallPolicy = (await probe(() => m.firewallModifyState(), notes, 'the firewall policy')).value ?? 'unknown';
  const facts = (await probe(() => m.firewallFacts(), notes, 'the firewall state')).value;
  const firewall = facts
    ? evaluateFirewall(facts)
    : { enforced: false, reasons: ['the firewall state could not be read'] };
  const s: Omit<WindowsSandboxStatus, 'state' | 'summary' | 'fix'> = {
    version: marker?.version,
    group: tri(group),
    users,
    rules,
    firewallPolicy,
    firewall,
    notes,
  };
  return { ...s, ...verdict(s) };
}

function verdict(
  s: Omit<WindowsSandboxStatus, 'state' | 'summary' | 'fix'>,
): Pick<WindowsSandboxStatus, 'state' | 'summary' | 'fix'> {
  const setup =
    'Run "agent-sandbox setup" (or "Agent Sandbox: Set Up Windows Sandbox") as a user who can approve an administrator prompt.';
  if (s.version === undefined)
    return { state: 'setup-needed', summary: 'The elevated Windows sandbox is not set up.', fix: setup };
  if (s.version < SETUP_VERSION)
    return { state: 'outdated', summary: `Setup version ${s.version} is older than ${SETUP_VERSION}.`, fix: setup };
  const missing = [
    ...(s.group === 'no' ? [`group ${GROUP_NAME}`] : []),
    ...s.users.filter((u) => u.exists === 'no').map((u) => `account ${u.name}`),
    ...s.users.filter((u) => !u.credentials).map((u) => `your stored password for ${u.name}`),
    ...s.rules.filter((r) => r.exists === 'no' || r.matches === 'no').map((r) => `firewall rule "${r.name}"`),
  ];
  if (missing.length)
    return { state: 'incomplete', summary: `Setup is incomplete: missing ${missing.join(', ')}.`, fix: setup };
  if (s.firewallPolicy === 'gp-override') {
    return {
      state: 'incomplete',
      summary: 'Group Policy overrides local firewall rules: the offline block is not in effect.',
      fix: 'Ask your administrator to enable "Apply local firewall rules" for the firewall profiles.',
    };
  }
  if (!s.firewall.enforced)
    return {
      state: 'incomplete',
      summary: firewallNote(s.firewall),
      fix: 'Turn Windows Defender Firewall on for every profile, then run Verify.',
    };
  const unknown = s.rules.some((r) => r.matches === 'unknown') || s.firewallPolicy === 'unknown';
  return {
    state: 'ready',
    summary:
      `Elevated Windows sandbox set up (version ${s.version}).` +
      (unknown ? ' Some firewall details could not be read back; run Verify to check the network block.' : ''),
  };
}

/** What the offline account's network block looks like right now: its rule read back, and the firewall's state. */
export interface OfflineBlockState {
  /** The rule exists once and reads back as setup wrote it. */
  ruleOk: boolean;
  firewall: FirewallVerdict;
}

/** Read when the offline broker starts (not only at setup): the rule may have been removed or the firewall turned off since. */
export async function offlineBlockState(m: SetupMachine, offlineSid: string): Promise<OfflineBlockState> {
  const rule = buildSetupPlan({ home: os.homedir() }).firewall.find((r) => r.user === 'offline');
  const back = rule ? await m.getRules(rule.name).catch(() => []) : [];
  const ruleOk = Boolean(rule) && back.length === 1 && ruleMatches(back[0], rule!, ruleUserSddl(offlineSid));
  const facts = await m.firewallFacts().catch(() => undefined);
  return {
    ruleOk,
    firewall: facts ? evaluateFirewall(facts) : { enforced: false, reasons: ['the firewall state could not be read'] },
  };
}
