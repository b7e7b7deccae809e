// Test helper (not a test): an in-memory SetupMachine for the elevated step, status and action tests.
import type { FirewallFacts } from '../../src/sandbox/windows/firewall-state';
import type { AccessMask } from '../../src/policy';
import type {
  FirewallModifyState,
  Marker,
  RuleReadback,
  SetupMachine,
  UserInfo,
} from '../../src/sandbox/windows/setup/machine';
import type { FirewallRule, GrantSpec, UserSpec } from '../../src/sandbox/windows/setup/setup-plan';
import type { RuntimeLayout, RuntimeRecord } from '../../src/sandbox/windows/setup/runtime-layout';

/** An in-memory machine. `failAt` makes the Nth mutating call throw (once), to simulate a crash mid-setup. */
export class FakeMachine implements SetupMachine {
  groups = new Map<string, { sid: string; members: string[] }>([['Users', { sid: 'S-1-5-32-545', members: [] }]]);
  users = new Map<string, UserInfo & { password: string }>();
  hidden = new Set<string>();
  rules: (RuleReadback & { sddl: string })[] = [];
  acl = new Map<string, string[]>();
  ledger: { path: string; sid: string }[] = [];
  marker: Marker | undefined;
  modify: FirewallModifyState = 'ok';
  /** Rule fields the "platform" cannot read back (like Wine's E_NOTIMPL getters). */
  unreadable = false;
  denyPaths = new Set<string>();
  mutations = 0;
  failAt = 0;
  private nextRid = 1000;

  private mutate(what: string) {
    this.mutations++;
    if (this.mutations === this.failAt) throw new Error(`injected failure in ${what}`);
  }
  private group(g: { sid: string } | { name: string }) {
    const hit = 'sid' in g ? [...this.groups.values()].find((x) => x.sid === g.sid) : this.groups.get(g.name);
    if (!hit) throw new Error('no such group');
    return hit;
  }
  async lookupGroup(name: string) {
    return this.groups.get(name)?.sid;
  }
  async createGroup(name: string) {
    this.mutate('createGroup');
    this.groups.set(name, { sid: `S-1-5-21-9-9-9-${this.nextRid++}`, members: [] });
  }
  async deleteGroup(name: string) {
    this.mutate('deleteGroup');
    this.groups.delete(name);
  }
  async groupMembers(g: { sid: string } | { name: string }) {
    return [...this.group(g).members];
  }
  async addGroupMember(g: { sid: string } | { name: string }, sid: string) {
    this.mutate('addGroupMember');
    this.group(g).members.push(sid);
  }
  async lookupUser(name: string) {
    const u = this.users.get(name);
    return u && { sid: u.sid, priv: u.priv, flags: u.flags };
  }
  async createUser(spec: UserSpec, password: string) {
    this.mutate('createUser');
    this.users.set(spec.name, { sid: `S-1-5-21-9-9-9-${this.nextRid++}`, priv: spec.priv, flags: 0x1, password });
  }
  async setUserPassword(name: string, password: string) {
    this.mutate('setUserPassword');
    this.users.get(name)!.password = password;
  }
  async setUserFlags(name: string, flags: number) {
    this.mutate('setUserFlags');
    this.users.get(name)!.flags = flags;
  }
  async deleteUser(name: string) {
    this.mutate('deleteUser');
    const sid = this.users.get(name)?.sid;
    this.users.delete(name);
    for (const g of this.groups.values()) g.members = g.members.filter((m) => m !== sid);
  }
  async deleteProfile() {
    this.mutate('deleteProfile');
    return true;
  }
  async isHiddenFromSignIn(name: string) {
    return this.hidden.has(name);
  }
  async hideFromSignIn(name: string) {
    this.mutate('hide');
    this.hidden.add(name);
  }
  async unhideFromSignIn(name: string) {
    this.mutate('unhide');
    this.hidden.delete(name);
  }
  async firewallModifyState() {
    return this.modify;
  }
  firewall: FirewallFacts = {
    currentProfiles: 2,
    enabled: { 2: true },
    modifyState: 0,
    services: { mpssvc: true, bfe: true },
  };
  async firewallFacts() {
    return this.firewall;
  }
  async getRules(name: string): Promise<RuleReadback[]> {
    return this.rules
      .filter((r) => r.name === name)
      .map((r) => (this.unreadable ? { name: r.name } : { ...r, localUserAuthorizedList: r.sddl }));
  }
  async removeRule(name: string) {
    this.mutate('removeRule');
    this.rules = this.rules.filter((r) => r.name !== name);
  }
  async addRule(rule: FirewallRule, sddl: string) {
    this.mutate('addRule');
    this.rules.push({
      name: rule.name,
      direction: rule.direction,
      action: rule.action,
      profiles: rule.profiles,
      protocol: rule.protocol,
      remoteAddresses: rule.remoteAddresses,
      ...(rule.remotePorts !== undefined ? { remotePorts: rule.remotePorts } : {}),
      enabled: rule.enabled,
      sddl,
    });
  }
  createdRuleNames: string[] = [];
  async createdRules() {
    return [...this.createdRuleNames];
  }
  async recordCreatedRule(name: string) {
    this.mutate('recordCreatedRule');
    if (!this.createdRuleNames.includes(name)) this.createdRuleNames.push(name);
  }
  async forgetCreatedRule(name: string) {
    this.mutate('forgetCreatedRule');
    this.createdRuleNames = this.createdRuleNames.filter((n) => n !== name);
  }
  async hasGrant(path: string, sid: string, mask: AccessMask) {
    return (this.acl.get(path) ?? []).includes(`${sid}:${mask.value}`);
  }
  async addGrant(g: GrantSpec, sid: string) {
    this.mutate('addGrant');
    if (this.denyPaths.has(g.path)) throw new Error('SetNamedSecurityInfoW failed with error 5');
    this.ledger.push({ path: g.path, sid });
    this.acl.set(g.path, [...(this.acl.get(g.path) ?? []), `${sid}:${g.mask.value}`]);
  }
  async revertGrants(sid: string | undefined) {
    this.mutate('revertGrants');
    const hit = (x: { sid: string }) => sid === undefined || x.sid === sid;
    const reverted = this.ledger.filter(hit);
    for (const e of reverted)
      this.acl.set(
        e.path,
        (this.acl.get(e.path) ?? []).filter((a) => !a.startsWith(e.sid)),
      );
    this.ledger = this.ledger.filter((x) => !hit(x));
    return { reverted: reverted.length, failed: [] };
  }
  created = new Map<string, string>();
  async createdAccount(name: string) {
    return this.created.get(name);
  }
  async recordCreatedAccount(name: string, sid: string) {
    this.mutate('recordCreated');
    this.created.set(name, sid);
  }
  async forgetCreatedAccount(name: string) {
    this.mutate('forgetCreated');
    this.created.delete(name);
  }
  /** Runtime copies on "disk" (folder → hash and the group SID its root was protected for), and the record. */
  copies = new Map<string, { hash: string; groupSid: string }>();
  runtimeRecord: RuntimeRecord[] = [];
  /** Copies a running runner holds open: removing them fails. */
  busyCopies = new Set<string>();
  async runtimeCopies() {
    return [...this.runtimeRecord];
  }
  async recordRuntimeCopies(copies: RuntimeRecord[]) {
    this.mutate('recordRuntimeCopies');
    this.runtimeRecord = copies.map((c) => ({ ...c }));
  }
  async runtimeCopyComplete(layout: RuntimeLayout) {
    return this.copies.get(layout.dir)?.hash === layout.hash;
  }
  async materialiseRuntime(layout: RuntimeLayout, groupSid: string) {
    this.mutate('materialiseRuntime');
    this.copies.set(layout.dir, { hash: layout.hash, groupSid });
  }
  async removeRuntimeCopy(dir: string) {
    this.mutate('removeRuntimeCopy');
    if (this.busyCopies.has(dir)) throw new Error('EBUSY: resource busy or locked');
    this.copies.delete(dir);
  }
  async runtimeCopyExists(dir: string) {
    return this.copies.has(dir);
  }
  async readMarker() {
    return this.marker && { ...this.marker };
  }
  async writeMarker(m: Marker) {
    this.mutate('writeMarker');
    this.marker = { ...m };
  }
  async deleteMarker() {
    this.mutate('deleteMarker');
    this.marker = undefined;
  }

  /** Everything observable except passwords and mutation counters. */
  snapshot() {
    return JSON.stringify({
      groups: [...this.groups.entries()].map(([k, v]) => [k, v.sid, [...v.members].sort()]),
      users: [...this.users.entries()].map(([k, v]) => [k, v.sid, v.priv, v.flags]),
      hidden: [...this.hidden].sort(),
      rules: this.rules,
      createdRules: [...this.createdRuleNames].sort(),
      acl: [...this.acl.entries()].sort(),
      ledger: [...this.ledger].sort((a, b) => a.path.localeCompare(b.path)),
      marker: this.marker,
      copies: [...this.copies.entries()].sort(),
      runtimeRecord: this.runtimeRecord,
    });
  }
}
