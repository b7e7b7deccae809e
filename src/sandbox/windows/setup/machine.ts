/**
 * What setup, uninstall and status need from the machine, as an interface. The real implementation
 * (machine-win32.ts) calls netapi32, the registry, firewall COM and the ACL ledger; unit tests use an in-memory
 * machine to check that the steps are idempotent and resumable. Every method is a single check or a single change:
 * the decisions live in the steps.
 */
import type { AccessMask } from '../../../policy';
import type { FirewallRule, GrantSpec, UserSpec } from './setup-plan';
import type { FirewallFacts } from '../firewall-state';
import type { RuntimeLayout, RuntimeRecord } from './runtime-layout';

export interface UserInfo {
  sid: string;
  priv: number;
  flags: number;
}

/** A rule as read back from the firewall; fields the platform cannot read back are undefined. */
export interface RuleReadback {
  name: string;
  direction?: number;
  action?: number;
  profiles?: number;
  protocol?: number;
  remoteAddresses?: string;
  remotePorts?: string;
  enabled?: boolean;
  localUserAuthorizedList?: string;
}

/**
 * `gp-override`: Group Policy overrides local rules, so ours would be stored but ignored. `per-profile`: the state
 * differs between profiles (S_FALSE), so in at least one of them our rules may be ignored.
 */
export type FirewallModifyState = 'ok' | 'gp-override' | 'inbound-blocked' | 'per-profile';

export interface Marker {
  version: number;
  groupSid: string;
  offlineSid: string;
  onlineSid: string;
}

export interface SetupMachine {
  lookupGroup(name: string): Promise<string | undefined>;
  createGroup(name: string, comment: string): Promise<void>;
  deleteGroup(name: string): Promise<void>;
  /** Members of a local group, as SIDs. The group is named by SID (builtin Users) or by our own group's name. */
  groupMembers(group: { sid: string } | { name: string }): Promise<string[]>;
  addGroupMember(group: { sid: string } | { name: string }, memberSid: string): Promise<void>;

  lookupUser(name: string): Promise<UserInfo | undefined>;
  createUser(spec: UserSpec, password: string): Promise<void>;
  setUserPassword(name: string, password: string): Promise<void>;
  setUserFlags(name: string, flags: number): Promise<void>;
  deleteUser(name: string): Promise<void>;
  /** Deletes the profile folder and registry entries of an account (DeleteProfileW); false when there is none. */
  deleteProfile(sid: string): Promise<boolean>;

  isHiddenFromSignIn(name: string): Promise<boolean>;
  hideFromSignIn(name: string): Promise<void>;
  unhideFromSignIn(name: string): Promise<void>;

  firewallModifyState(): Promise<FirewallModifyState>;
  /** Whether the firewall is on for the active profiles, applies local rules, and its services run. */
  firewallFacts(): Promise<FirewallFacts>;
  /** All rules with this name (duplicates are possible in the firewall store). */
  getRules(name: string): Promise<RuleReadback[]>;
  removeRule(name: string): Promise<void>;
  /** Creates the rule with every property set before it is added. */
  addRule(rule: FirewallRule, localUserSddl: string): Promise<void>;
  /** The firewall rule ledger: names setup recorded before adding each rule (uninstall removes exactly these). */
  createdRules(): Promise<string[]>;
  recordCreatedRule(name: string): Promise<void>;
  forgetCreatedRule(name: string): Promise<void>;

  hasGrant(path: string, sid: string, mask: AccessMask, inheritance: AccessMask): Promise<boolean>;
  /** Adds an allow ACE and records it in the ledger (what it replaced) before changing anything. */
  addGrant(grant: GrantSpec, sid: string): Promise<void>;
  /**
   * Reverts every ledger entry for this SID (undefined: every elevated-setup entry, when the group's SID is no
   * longer known); returns how many were reverted and the paths that could not be.
   */
  revertGrants(sid: string | undefined): Promise<{ reverted: number; failed: string[] }>;

  /**
   * Which accounts (the group and the users) setup itself created: 'pending' is recorded before creating one (a
   * crash then still knows it is ours), its SID once created. An account without a record was there before setup
   * and is never adopted nor deleted.
   */
  createdAccount(name: string): Promise<string | undefined>;
  recordCreatedAccount(name: string, sidOrPending: string): Promise<void>;
  forgetCreatedAccount(name: string): Promise<void>;

  /** The runner's runtime copies setup made (recorded before copying, so a crash still knows them), by folder. */
  runtimeCopies(): Promise<RuntimeRecord[]>;
  /** Replaces the record; an empty list removes it. */
  recordRuntimeCopies(copies: RuntimeRecord[]): Promise<void>;
  runtimeCopyComplete(layout: RuntimeLayout): Promise<boolean>;
  /** Creates the protected root (refusing one owned by anyone but Administrators/SYSTEM) and the copy. */
  materialiseRuntime(layout: RuntimeLayout, groupSid: string): Promise<void>;
  removeRuntimeCopy(dir: string): Promise<void>;
  runtimeCopyExists(dir: string): Promise<boolean>;

  readMarker(): Promise<Marker | undefined>;
  writeMarker(marker: Marker): Promise<void>;
  deleteMarker(): Promise<void>;
}
