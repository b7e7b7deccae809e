/**
 * Windows environment blocks: case-insensitive names ("Path" and "PATH" are one variable), and the sandbox's
 * environment built from the plan (scrubbed names removed, plan values set, offline stubs first on PATH). Pure.
 */
import type { Win32Plan } from '../../policy/plan';

/** A variable from a Windows environment, whose names are case-insensitive ("Path" and "PATH" are one). */
export function envGet(env: Record<string, string | undefined>, name: string): string | undefined {
  const key = Object.keys(env).find((k) => k.toUpperCase() === name.toUpperCase());
  return key === undefined ? undefined : env[key];
}

function envSet(env: Record<string, string>, name: string, value: string): void {
  for (const k of Object.keys(env)) if (k.toUpperCase() === name.toUpperCase()) delete env[k];
  env[name] = value;
}

/**
 * git settings for the sandbox, given through the command's environment (GIT_CONFIG_COUNT/KEY_n/VALUE_n, which git
 * treats as command-line scope, a protected scope), appended after any the caller already set; no config file is
 * written. Elevated: `safe.directory` for each workspace root, since the repository belongs to the developer and
 * git refuses it to the sandbox account as "dubious ownership". Both modes: `http.sslBackend=openssl`, since
 * Schannel refuses client credentials to restricted tokens.
 */
export function gitConfigEnv(plan: Win32Plan, env: Record<string, string>): Record<string, string> {
  const entries: [string, string][] = [['http.sslBackend', 'openssl']];
  if (plan.windowsMode === 'elevated') {
    for (const root of plan.workspaceRoots) entries.push(['safe.directory', root.replace(/\\/g, '/')]);
  }
  const first = Number.parseInt(envGet(env, 'GIT_CONFIG_COUNT') ?? '0', 10);
  const start = Number.isSafeInteger(first) && first > 0 ? first : 0;
  const out: Record<string, string> = { GIT_CONFIG_COUNT: String(start + entries.length) };
  entries.forEach(([k, v], i) => {
    out[`GIT_CONFIG_KEY_${start + i}`] = k;
    out[`GIT_CONFIG_VALUE_${start + i}`] = v;
  });
  return out;
}

/** The sandbox's environment: the caller's minus scrubbed names, plus the plan's settings, git's and the stub dir. */
export function sandboxEnv(
  plan: Win32Plan,
  base: Record<string, string | undefined>,
  stubDir?: string,
): Record<string, string> {
  const remove = new Set(plan.env.remove.map((k) => k.toUpperCase()));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !remove.has(k.toUpperCase())) env[k] = v;
  for (const [k, v] of Object.entries(plan.env.set)) envSet(env, k, v);
  for (const [k, v] of Object.entries(gitConfigEnv(plan, env))) envSet(env, k, v);
  if (stubDir) envSet(env, 'PATH', `${stubDir};${envGet(env, 'PATH') ?? ''}`);
  return env;
}
