/**
 * Windows Defender Firewall through COM (INetFwPolicy2, INetFwRules, INetFwRule3). Rules are built completely
 * (every property, LocalUserAuthorizedList included) before `Add`, so a half-configured rule never exists, and
 * `readRule` reads every field back. Must never add a rule that is missing its user scope: an unscoped outbound
 * block would cut the whole machine off.
 */
import { Win32Error } from './errors';
import { ComObject, createInstance, takeBstr, withBstr } from './com';

const CLSID_NetFwPolicy2 = 'E2B3C97F-6AE1-41AC-817A-F6F92166D7DD';
const IID_INetFwPolicy2 = '98325047-C671-4174-8D81-DEFCD3F03186';
const CLSID_NetFwRule = '2C5BC43E-3369-4C33-AB0C-BE9469677AF4';
const IID_INetFwRule = 'AF230D27-BABA-4E42-ACED-F524F22CFCE2';
const IID_INetFwRule3 = 'B21563FF-D696-4222-AB46-4E89B73AB34A';

/** NET_FW_MODIFY_STATE */
export const FwModifyState = { OK: 0, GP_OVERRIDE: 1, INBOUND_BLOCKED: 2 } as const;
/** HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND): INetFwRules::Item for a missing name. */
const HR_NOT_FOUND = 0x80070002;
const VARIANT_TRUE = -1;
const S_FALSE = 1;
/** NET_FW_PROFILE_TYPE2 bits. */
export const FwProfile = { DOMAIN: 1, PRIVATE: 2, PUBLIC: 4 } as const;

/** Vtable slots (IUnknown 0-2, IDispatch 3-6), in netfw.h declaration order. */
const Policy2 = {
  get_CurrentProfileTypes: 7,
  get_FirewallEnabled: 8,
  get_Rules: 18,
  get_LocalPolicyModifyState: 28,
} as const;
const Rules = { get_Count: 7, Add: 8, Remove: 9, Item: 10 } as const;
const Rule = {
  get_Name: 7,
  put_Name: 8,
  get_Description: 9,
  put_Description: 10,
  get_Protocol: 15,
  put_Protocol: 16,
  get_RemotePorts: 19,
  put_RemotePorts: 20,
  get_RemoteAddresses: 23,
  put_RemoteAddresses: 24,
  get_Direction: 27,
  put_Direction: 28,
  get_Enabled: 33,
  put_Enabled: 34,
  get_Grouping: 35,
  put_Grouping: 36,
  get_Profiles: 37,
  put_Profiles: 38,
  get_Action: 41,
  put_Action: 42,
  get_LocalUserAuthorizedList: 49,
  put_LocalUserAuthorizedList: 50,
} as const;

export interface FwRuleSpec {
  name: string;
  description: string;
  grouping: string;
  direction: number;
  action: number;
  profiles: number;
  protocol: number;
  remoteAddresses: string;
  /** Only with protocol TCP (6) or UDP (17); absent leaves every port (the allowlist scopes loopback TCP with it). */
  remotePorts?: string;
  enabled: boolean;
  localUserAuthorizedList: string;
}

/** A rule as read back; a field whose getter failed is undefined (Wine implements none of them). */
export type FwRuleReadback = { [K in keyof FwRuleSpec]?: FwRuleSpec[K] };

/** INetFwPolicy2 with its rule collection; close() releases both. */
export class FirewallPolicy {
  private constructor(
    private readonly policy: ComObject,
    private readonly rules: ComObject,
  ) {}

  static open(): FirewallPolicy {
    const policy = createInstance(CLSID_NetFwPolicy2, IID_INetFwPolicy2, 'INetFwPolicy2');
    try {
      return new FirewallPolicy(
        policy,
        policy.callForObject(Policy2.get_Rules, 'int32 get_Rules(_Out_ void **rules)', 'INetFwRules'),
      );
    } catch (e) {
      policy.close();
      throw e;
    }
  }

  /** NET_FW_MODIFY_STATE for the local policy (GP override means our rules would be ignored). */
  localPolicyModifyState(): number {
    return this.localPolicyModify().state;
  }

  /**
   * NET_FW_MODIFY_STATE with the call's HRESULT: S_FALSE (1) means the state differs between profiles, so for at
   * least one of them local rules may not apply (treated as not OK by the caller).
   */
  localPolicyModify(): { state: number; perProfile: boolean } {
    const out = [0];
    const hr = this.policy.call(
      Policy2.get_LocalPolicyModifyState,
      'int32 get_LocalPolicyModifyState(_Out_ int32 *state)',
      out,
    );
    return { state: out[0], perProfile: hr === S_FALSE };
  }

  currentProfileTypes(): number {
    const out = [0];
    this.policy.call(Policy2.get_CurrentProfileTypes, 'int32 get_CurrentProfileTypes(_Out_ int32 *types)', out);
    return out[0];
  }

  firewallEnabled(profile: number): boolean {
    const out = [0];
    this.policy.call(
      Policy2.get_FirewallEnabled,
      'int32 get_FirewallEnabled(int32 profile, _Out_ int16 *enabled)',
      profile,
      out,
    );
    return out[0] !== 0;
  }

  ruleCount(): number {
    const out = [0];
    this.rules.call(Rules.get_Count, 'int32 get_Count(_Out_ int32 *count)', out);
    return out[0];
  }

  /** The rule with this name, or undefined. */
  item(name: string): ComObject | undefined {
    try {
      return withBstr(name, (b) =>
        this.rules.callForObject(Rules.Item, 'int32 Item(void *name, _Out_ void **rule)', 'INetFwRule', b),
      );
    } catch (e) {
      if (e instanceof Win32Error && e.code === HR_NOT_FOUND) return undefined;
      throw e;
    }
  }

  /** Removes one rule with this name (call until `item` is undefined to remove duplicates). */
  remove(name: string): void {
    withBstr(name, (b) => this.rules.call(Rules.Remove, 'int32 Remove(void *name)', b));
  }

  /** Builds a complete INetFwRule3 and only then adds it. */
  add(spec: FwRuleSpec): void {
    const rule = createInstance(CLSID_NetFwRule, IID_INetFwRule, 'INetFwRule');
    try {
      configureRule(rule, spec);
      this.rules.call(Rules.Add, 'int32 Add(void *rule)', rule.value);
    } finally {
      rule.close();
    }
  }

  close(): void {
    this.rules.close();
    this.policy.close();
  }
}

/** Sets every property of a new rule (not yet added). Exposed so the Wine tier can exercise each vtable slot. */
export function configureRule(rule: ComObject, spec: FwRuleSpec): void {
  const putStr = (slot: number, name: string, v: string) =>
    withBstr(v, (b) => rule.call(slot, `int32 ${name}(void *v)`, b));
  const putInt = (slot: number, name: string, v: number) => rule.call(slot, `int32 ${name}(int32 v)`, v);
  putStr(Rule.put_Name, 'put_Name', spec.name);
  putStr(Rule.put_Description, 'put_Description', spec.description);
  putStr(Rule.put_Grouping, 'put_Grouping', spec.grouping);
  putInt(Rule.put_Direction, 'put_Direction', spec.direction);
  putInt(Rule.put_Protocol, 'put_Protocol', spec.protocol);
  // Ports after the protocol: Windows accepts them only once the protocol is TCP or UDP.
  if (spec.remotePorts !== undefined) putStr(Rule.put_RemotePorts, 'put_RemotePorts', spec.remotePorts);
  putStr(Rule.put_RemoteAddresses, 'put_RemoteAddresses', spec.remoteAddresses);
  putInt(Rule.put_Profiles, 'put_Profiles', spec.profiles);
  putInt(Rule.put_Action, 'put_Action', spec.action);
  rule.call(Rule.put_Enabled, 'int32 put_Enabled(int16 v)', spec.enabled ? VARIANT_TRUE : 0);
  const rule3 = rule.queryInterface(IID_INetFwRule3, 'INetFwRule3');
  try {
    withBstr(spec.localUserAuthorizedList, (b) =>
      rule3.call(Rule.put_LocalUserAuthorizedList, 'int32 put_LocalUserAuthorizedList(void *v)', b),
    );
  } finally {
    rule3.close();
  }
}

/** Reads every field of a rule; fields whose getter fails are left undefined (the caller treats that as a mismatch). */
export function readRule(rule: ComObject): FwRuleReadback {
  const str = (slot: number, name: string) =>
    attempt(() => {
      const out: (bigint | null)[] = [null];
      rule.call(slot, `int32 ${name}(_Out_ void **v)`, out);
      return takeBstr(out[0]);
    });
  const int = (slot: number, name: string) =>
    attempt(() => {
      const out = [0];
      rule.call(slot, `int32 ${name}(_Out_ int32 *v)`, out);
      return out[0];
    });
  const rule3 = attempt(() => rule.queryInterface(IID_INetFwRule3, 'INetFwRule3'));
  try {
    return {
      name: str(Rule.get_Name, 'get_Name'),
      description: str(Rule.get_Description, 'get_Description'),
      grouping: str(Rule.get_Grouping, 'get_Grouping'),
      direction: int(Rule.get_Direction, 'get_Direction'),
      protocol: int(Rule.get_Protocol, 'get_Protocol'),
      remoteAddresses: str(Rule.get_RemoteAddresses, 'get_RemoteAddresses'),
      remotePorts: str(Rule.get_RemotePorts, 'get_RemotePorts'),
      profiles: int(Rule.get_Profiles, 'get_Profiles'),
      action: int(Rule.get_Action, 'get_Action'),
      enabled: attempt(() => {
        const out = [0];
        rule.call(Rule.get_Enabled, 'int32 get_Enabled(_Out_ int16 *v)', out);
        return out[0] !== 0;
      }),
      localUserAuthorizedList:
        rule3 &&
        attempt(() => {
          const out: (bigint | null)[] = [null];
          rule3.call(Rule.get_LocalUserAuthorizedList, 'int32 get_LocalUserAuthorizedList(_Out_ void **v)', out);
          return takeBstr(out[0]);
        }),
    };
  } finally {
    rule3?.close();
  }
}

/** Creates an unattached rule object (for the Wine tier's vtable test). */
export function newRuleObject(): ComObject {
  return createInstance(CLSID_NetFwRule, IID_INetFwRule, 'INetFwRule');
}

function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof Win32Error) return undefined;
    throw e;
  }
}
