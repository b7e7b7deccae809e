/**
 * Builds policy input from the two places users state it: CLI flags and VS Code settings plus workspace folders.
 * Both produce `PolicyInput` for `parsePolicy`, so validation and defaults are shared. Pure.
 */
import { DEFAULT_PROTECTED_PATHS, type PolicyInput } from './schema';

export interface CliPolicyFlags {
  workspace: string[];
  write: string[];
  readOnly: boolean;
  network?: string;
  protect: string[];
  /** `--allow-domain` / `--deny-domain` (allowlist mode). */
  allowDomain?: string[];
  denyDomain?: string[];
  /** The stricter preset of other tools' workspace files. */
  strict?: boolean;
  /** Resource limits (Linux); absent: the defaults. */
  maxProcesses?: number;
  maxMemoryMb?: number;
}

export function policyFromCli(flags: CliPolicyFlags, cwd: string): PolicyInput {
  const input: Record<string, unknown> = {
    workspaceRoots: flags.workspace.length ? flags.workspace : [cwd],
    writableRoots: flags.write,
  };
  if (flags.readOnly) input.mode = 'read-only';
  if (flags.strict) input.protectedPreset = 'strict';
  if (flags.network !== undefined) input.network = flags.network;
  if (flags.allowDomain?.length) input.allowedDomains = flags.allowDomain;
  if (flags.denyDomain?.length) input.deniedDomains = flags.denyDomain;
  if (flags.maxProcesses !== undefined) input.maxProcesses = flags.maxProcesses;
  if (flags.maxMemoryMb !== undefined) input.maxMemoryMb = flags.maxMemoryMb;
  // `--protect` adds to the defaults rather than replacing them: dropping .git/hooks by accident is a hole.
  if (flags.protect.length) input.protectedPaths = [...DEFAULT_PROTECTED_PATHS, ...flags.protect];
  return input as PolicyInput;
}

/** The `agentSandbox.*` settings, as VS Code returns them (unknown shapes are validated by the schema). */
export interface SandboxSettings {
  mode?: unknown;
  extraWritableRoots?: unknown;
  protectedPaths?: unknown;
  denyRead?: unknown;
  network?: unknown;
  allowedDomains?: unknown;
  deniedDomains?: unknown;
  envScrub?: unknown;
  envAllow?: unknown;
  envSet?: unknown;
  allowFullAccess?: unknown;
  allowUncPaths?: unknown;
  requireFullLandlock?: unknown;
  requireEnforcedFirewall?: unknown;
  requireEnforceableVolumes?: unknown;
  allowHostLoopback?: unknown;
  protectedPreset?: unknown;
  maxProcesses?: unknown;
  maxMemoryMb?: unknown;
}

/** Maps settings keys to policy fields, so errors can name the setting the user actually wrote. */
export const SETTING_FOR_FIELD: Record<string, string> = {
  mode: 'agentSandbox.mode',
  writableRoots: 'agentSandbox.extraWritableRoots',
  protectedPaths: 'agentSandbox.protectedPaths',
  denyRead: 'agentSandbox.denyRead',
  network: 'agentSandbox.network',
  allowedDomains: 'agentSandbox.allowedDomains',
  deniedDomains: 'agentSandbox.deniedDomains',
  'env.scrub': 'agentSandbox.env.scrub',
  'env.allow': 'agentSandbox.env.allow',
  'env.set': 'agentSandbox.env.set',
  allowFullAccess: 'agentSandbox.allowFullAccess',
  allowUncPaths: 'agentSandbox.allowUncPaths',
  requireFullLandlock: 'agentSandbox.requireFullLandlock',
  requireEnforcedFirewall: 'agentSandbox.requireEnforcedFirewall',
  requireEnforceableVolumes: 'agentSandbox.requireEnforceableVolumes',
  allowHostLoopback: 'agentSandbox.allowHostLoopback',
  protectedPreset: 'agentSandbox.protectedPreset',
  maxProcesses: 'agentSandbox.maxProcesses',
  maxMemoryMb: 'agentSandbox.maxMemoryMb',
};

export function policyFromSettings(
  s: SandboxSettings,
  workspaceFolders: string[],
  workspaceFile?: string,
): PolicyInput {
  const input: Record<string, unknown> = { workspaceRoots: workspaceFolders };
  if (workspaceFile) input.workspaceFile = workspaceFile;
  const put = (key: string, v: unknown) => {
    if (v !== undefined) input[key] = v;
  };
  put('mode', s.mode);
  put('writableRoots', s.extraWritableRoots);
  put('protectedPaths', s.protectedPaths);
  put('denyRead', s.denyRead);
  put('network', s.network);
  put('allowedDomains', s.allowedDomains);
  put('deniedDomains', s.deniedDomains);
  put('allowFullAccess', s.allowFullAccess);
  put('allowUncPaths', s.allowUncPaths);
  put('requireFullLandlock', s.requireFullLandlock);
  put('requireEnforcedFirewall', s.requireEnforcedFirewall);
  put('requireEnforceableVolumes', s.requireEnforceableVolumes);
  put('allowHostLoopback', s.allowHostLoopback);
  put('protectedPreset', s.protectedPreset);
  put('maxProcesses', s.maxProcesses);
  put('maxMemoryMb', s.maxMemoryMb);
  if (s.envScrub !== undefined || s.envAllow !== undefined || s.envSet !== undefined) {
    const env: Record<string, unknown> = {};
    if (s.envScrub !== undefined) env.scrub = s.envScrub;
    if (s.envAllow !== undefined) env.allow = s.envAllow;
    if (s.envSet !== undefined) env.set = s.envSet;
    input.env = env;
  }
  return input as PolicyInput;
}
