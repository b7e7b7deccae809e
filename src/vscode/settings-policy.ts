/**
 * `agentSandbox.*` settings → policy input, validated by the policy schema, with errors that name the setting the
 * user wrote. Also the workspace-trust rule: in an untrusted workspace, workspace-level values may only narrow the
 * policy, never widen it. Pure (no `vscode` import); `settings.ts` feeds it `WorkspaceConfiguration.inspect()` data.
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
  envScrub: 'env.scrub',
  envAllow: 'env.allow',
  envSet: 'env.set',
  allowFullAccess: 'allowFullAccess',
  allowUncPaths: 'allowUncPaths',
  requireFullLandlock: 'requireFullLandlock',
  allowHostLoopback: 'allowHostLoopback',
};

const MODE_ORDER = ['read-only', 'workspace-write', 'full-access'];
const NETWORK_ORDER = ['offline', 'online'];

type Narrowing = 'stricter-enum' | 'union' | 'user-only';
const NARROWING: Record<keyof SandboxSettings, Narrowing> = {
  mode: 'stricter-enum',
  network: 'stricter-enum',
  protectedPaths: 'union',
  denyRead: 'union',
  envScrub: 'union',
  extraWritableRoots: 'user-only',
  envAllow: 'user-only',
  envSet: 'user-only',
  allowFullAccess: 'user-only',
  allowUncPaths: 'user-only',
  requireFullLandlock: 'user-only',
  allowHostLoopback: 'user-only',
};

function trustedValue(v: InspectedValue): unknown {
  return v.workspaceFolderValue ?? v.workspaceValue ?? v.globalValue ?? v.defaultValue;
}

function untrustedValue(key: keyof SandboxSettings, v: InspectedValue): unknown {
  const base = v.globalValue ?? v.defaultValue;
  const local = v.workspaceFolderValue ?? v.workspaceValue;
  if (local === undefined) return base;
  switch (NARROWING[key]) {
    case 'user-only':
      return base;
    case 'union':
      return Array.isArray(base) && Array.isArray(local) ? [...new Set([...base, ...local])] : base;
    case 'stricter-enum': {
      const order = key === 'mode' ? MODE_ORDER : NETWORK_ORDER;
      const b = order.indexOf(String(base ?? order[order.length - 1]));
      const l = order.indexOf(String(local));
      return l !== -1 && (b === -1 || l < b) ? local : base;
    }
  }
}

/**
 * The settings in effect. Trusted: VS Code's usual precedence (folder > workspace > user > default). Untrusted:
 * user/default values, plus workspace values only where they narrow (stricter mode/network, more protected or
 * hidden paths, more scrubbed variables).
 */
export function effectiveSettings(
  inspect: (setting: string) => InspectedValue | undefined,
  trusted: boolean,
): SandboxSettings {
  const out: SandboxSettings = {};
  for (const [key, setting] of Object.entries(SETTING_KEYS) as [keyof SandboxSettings, string][]) {
    const v = inspect(setting) ?? {};
    out[key] = trusted ? trustedValue(v) : untrustedValue(key, v);
  }
  return out;
}

/** Which settings an untrusted workspace tried to widen (for a notice to the user). */
export function ignoredUntrustedSettings(inspect: (setting: string) => InspectedValue | undefined): string[] {
  const ignored: string[] = [];
  for (const [key, setting] of Object.entries(SETTING_KEYS) as [keyof SandboxSettings, string][]) {
    const v = inspect(setting) ?? {};
    const local = v.workspaceFolderValue ?? v.workspaceValue;
    if (local !== undefined && JSON.stringify(untrustedValue(key, v)) !== JSON.stringify(local)) {
      ignored.push(`agentSandbox.${setting}`);
    }
  }
  return ignored;
}

export type SettingsResult = { ok: true; policy: PolicyInput } | { ok: false; errors: string[] };

/** The setting a schema issue path points at, e.g. ['env', 'scrub', 2] → agentSandbox.env.scrub. */
export function settingForPath(issuePath: readonly PropertyKey[]): string {
  const two = issuePath.slice(0, 2).map(String).join('.');
  return SETTING_FOR_FIELD[two] ?? SETTING_FOR_FIELD[String(issuePath[0])] ?? `agentSandbox.${issuePath.map(String).join('.')}`;
}

/** Validates settings with the policy schema; each error names the setting, the value and what is expected. */
export function validateSettings(settings: SandboxSettings, workspaceFolders: string[]): SettingsResult {
  const policy = policyFromSettings(settings, workspaceFolders);
  const parsed = PolicySchema.safeParse(policy);
  if (parsed.success) return { ok: true, policy };
  const errors = parsed.error.issues.map((issue) => {
    let value: unknown = policy;
    for (const k of issue.path) value = value && typeof value === 'object' ? (value as never)[k as never] : undefined;
    const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
    const item = issue.path.length > 2 || (issue.path.length === 2 && typeof issue.path[1] === 'number')
      ? ` item ${issue.path.slice(SETTING_FOR_FIELD[issue.path.slice(0, 2).map(String).join('.')] ? 2 : 1).map(String).join('.')}`
      : '';
    const what = issue.code === 'invalid_value'
      ? `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
      : issue.message;
    return `${settingForPath(issue.path)}${item}${got}: ${what}.`.replace(/\.\.$/, '.');
  });
  return { ok: false, errors };
}
