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

/** The sandbox's environment: the caller's minus scrubbed names, plus the plan's settings and the stub dir. */
export function sandboxEnv(plan: Win32Plan, base: Record<string, string | undefined>, stubDir?: string): Record<string, string> {
  const remove = new Set(plan.env.remove.map((k) => k.toUpperCase()));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !remove.has(k.toUpperCase())) env[k] = v;
  for (const [k, v] of Object.entries(plan.env.set)) envSet(env, k, v);
  if (stubDir) envSet(env, 'PATH', `${stubDir};${envGet(env, 'PATH') ?? ''}`);
  return env;
}
