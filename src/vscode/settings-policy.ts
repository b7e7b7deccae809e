/**
 * `agentSandbox.*` settings → policy input, validated by the policy schema, with errors that name the setting the
 * user wrote. Also the narrowing rule: a workspace or folder value (a file the agent may have written before it
 * was protected, or a cloned repository's) may only narrow the policy, never widen it, whether or not the workspace
 * is trusted. Widening takes user settings. Pure (no `vscode` import); `settings.ts` feeds it `WorkspaceConfiguration.inspect()` data.
 */
import { PolicySchema, SETTING_FOR_FIELD, policyFromSettings, type PolicyInput, type SandboxSettings } from '../policy';

/** The subset of `WorkspaceConfiguration.inspect()` we use. */
export interface InspectedValue {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/** Keys of `SandboxSettings` and the setting (below `agentSandbox.`) each one reads. */
export const SETTING_KEYS: Record<keyof SandboxSettings, string> = {
  mode: 'mode',
  extraWritableRoots: 'extraWritableRoots',
  protectedPaths: 'protectedPaths',
  denyRead: 'denyRead',
  network: 'network',
  allowedDomains: 'allowedDomains',
  deniedDomains: 'deniedDomains',
  envScrub: 'env.scrub',
  envAllow: 'env.allow',
  envSet: 'env.set',
  allowFullAccess: 'allowFullAccess',
  allowUncPaths: 'allowUncPaths',
  requireFullLandlock: 'requireFullLandlock',
  requireEnforcedFirewall: 'requireEnforcedFirewall',
  requireEnforceableVolumes: 'requireEnforceableVolumes',
  allowHostLoopback: 'allowHostLoopback',
  protectedPreset: 'protectedPreset',
  maxProcesses: 'maxProcesses',
  maxMemoryMb: 'maxMemoryMb',
};

const MODE_ORDER = ['read-only', 'workspace-write', 'full-access'];
const NETWORK_ORDER = ['offline', 'allowlist', 'online'];
const PRESET_ORDER = ['strict', 'default'];

type Narrowing = 'stricter-enum' | 'union' | 'user-only';
const NARROWING: Record<keyof SandboxSettings, Narrowing> = {
  mode: 'stricter-enum',
  network: 'stricter-enum',
  // A workspace or folder value may deny more hosts, never allow more.
  allowedDomains: 'user-only',
  deniedDomains: 'union',
  protectedPaths: 'union',
  denyRead: 'union',
  envScrub: 'union',
  extraWritableRoots: 'user-only',
  envAllow: 'user-only',
  envSet: 'user-only',
  allowFullAccess: 'user-only',
  allowUncPaths: 'user-only',
  requireFullLandlock: 'user-only',
  requireEnforcedFirewall: 'user-only',
  requireEnforceableVolumes: 'user-only',
  allowHostLoopback: 'user-only',
  protectedPreset: 'stricter-enum',
  // A higher limit is a wider sandbox; a workspace lowering it is not worth a new rule.
  maxProcesses: 'user-only',
  maxMemoryMb: 'user-only',
};
const ORDERS: Partial<Record<keyof SandboxSettings, string[]>> = {
  mode: MODE_ORDER,
  network: NETWORK_ORDER,
  protectedPreset: PRESET_ORDER,
};

/** The user's value (or the default), narrowed by the workspace's and then the folder's. */
function narrowedValue(key: keyof SandboxSettings, v: InspectedValue): unknown {
  let value = v.globalValue ?? v.defaultValue;
  for (const local of [v.workspaceValue, v.workspaceFolderValue]) {
    if (local === undefined) continue;
    switch (NARROWING[key]) {
      case 'user-only':
        break;
      // A malformed value is passed on, so validation names it and nothing runs until it is fixed (fail closed).
      case 'union':
        if (Array.isArray(value) && Array.isArray(local))
          value = [...new Set([...(value as unknown[]), ...(local as unknown[])])];
        else if (!Array.isArray(local)) value = local;
        break;
      case 'stricter-enum': {
        const order = ORDERS[key]!;
        const b = order.indexOf(String(value ?? order[order.length - 1]));
        const l = order.indexOf(String(local));
        if (l === -1 || b === -1 || l < b) value = local;
        break;
      }
    }
  }
  return value;
}

/**
 * The settings in effect: user/default values, plus workspace and folder values only where they narrow (stricter
 * mode/network/preset, more protected or hidden paths, more scrubbed variables). Trusted or not: workspace trust is
 * about running the workspace's code, and a settings file in the workspace may be the agent's.
 */
export function effectiveSettings(inspect: (setting: string) => InspectedValue | undefined): SandboxSettings {
  const out: SandboxSettings = {};
  for (const [key, setting] of Object.entries(SETTING_KEYS) as [keyof SandboxSettings, string][]) {
    out[key] = narrowedValue(key, inspect(setting) ?? {});
  }
  return out;
}

/** Which settings a workspace or folder value tried to widen (for a notice to the user). */
export function ignoredWideningSettings(inspect: (setting: string) => InspectedValue | undefined): string[] {
  const ignored: string[] = [];
  for (const [key, setting] of Object.entries(SETTING_KEYS) as [keyof SandboxSettings, string][]) {
    const v = inspect(setting) ?? {};
    const widened = [v.workspaceValue, v.workspaceFolderValue].some(
      (local) =>
        local !== undefined &&
        JSON.stringify(narrowedValue(key, { ...v, workspaceValue: local, workspaceFolderValue: undefined })) !==
          JSON.stringify(local),
    );
    if (widened) ignored.push(`agentSandbox.${setting}`);
  }
  return ignored;
}

export type SettingsResult = { ok: true; policy: PolicyInput } | { ok: false; errors: string[] };

/** The setting a schema issue path points at, e.g. ['env', 'scrub', 2] → agentSandbox.env.scrub. */
export function settingForPath(issuePath: readonly PropertyKey[]): string {
  const two = issuePath.slice(0, 2).map(String).join('.');
  return (
    SETTING_FOR_FIELD[two] ??
    SETTING_FOR_FIELD[String(issuePath[0])] ??
    `agentSandbox.${issuePath.map(String).join('.')}`
  );
}

/** Validates settings with the policy schema; each error names the setting, the value and what is expected. */
export function validateSettings(
  settings: SandboxSettings,
  workspaceFolders: string[],
  workspaceFile?: string,
): SettingsResult {
  const policy = policyFromSettings(settings, workspaceFolders, workspaceFile);
  const parsed = PolicySchema.safeParse(policy);
  if (parsed.success) return { ok: true, policy };
  const errors = parsed.error.issues.map((issue) => {
    let value: unknown = policy;
    for (const k of issue.path) value = value && typeof value === 'object' ? (value as never)[k as never] : undefined;
    const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
    const item =
      issue.path.length > 2 || (issue.path.length === 2 && typeof issue.path[1] === 'number')
        ? ` item ${issue.path
            .slice(SETTING_FOR_FIELD[issue.path.slice(0, 2).map(String).join('.')] ? 2 : 1)
            .map(String)
            .join('.')}`
        : '';
    const what =
      issue.code === 'invalid_value'
        ? `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
        : issue.message;
    return `${settingForPath(issue.path)}${item}${got}: ${what}.`.replace(/\.\.$/, '.');
  });
  return { ok: false, errors };
}
