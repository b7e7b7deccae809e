/**
 * Shared CLI argument handling: the policy flags every subcommand understands, usage errors with a stable exit
 * code, and help text. Built on node's `util.parseArgs`.
 */
import * as fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { policyFromCli, type CliPolicyFlags, type Platform, type PolicyInput } from '../policy';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit code for bad arguments (distinct from 125, "sandbox could not be applied"). */
export const USAGE_EXIT = 2;

export const POLICY_OPTIONS = {
  workspace: { type: 'string', multiple: true, default: [] },
  write: { type: 'string', multiple: true, default: [] },
  'read-only': { type: 'boolean', default: false },
  network: { type: 'string' },
  protect: { type: 'string', multiple: true, default: [] },
  'allow-domain': { type: 'string', multiple: true, default: [] },
  'deny-domain': { type: 'string', multiple: true, default: [] },
  strict: { type: 'boolean', default: false },
  platform: { type: 'string' },
  'policy-file': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

export const POLICY_HELP = `Policy options:
  --workspace DIR       A workspace folder (repeatable). Default: the current directory.
  --write DIR           An extra writable folder (repeatable).
  --read-only           Nothing is writable except the sandbox's own temp.
  --network MODE        offline (default), allowlist (only --allow-domain hosts, through a proxy; on Linux the
                        sandbox cannot go around it, on unelevated Windows it is advisory) or online.
  --allow-domain D      allowlist: a host the command may reach (repeatable): example.org, *.example.org,
                        example.org:443, an IP literal, or a preset (@npm, @pypi, @crates, @go, @github).
  --deny-domain D       allowlist: a host refused even when allowed (repeatable; deny wins).
  --protect GLOB        Another read-only path inside each root, like "secrets/**" (repeatable; adds to the
                        defaults .git/hooks/**, .git/config, .git/commondir, .vscode/**, .agent-sandbox/**, .envrc,
                        .env). Every plan also protects what git runs from (each gitdir except what commit, fetch
                        and branch write; core.hooksPath; included configs; hook-manager configs) and top-level
                        *.code-workspace files: \`agent-sandbox plan\` lists each with its reason.
  --strict              Also protect other tools' workspace files (.devcontainer/**, .devcontainer.json, .idea/**,
                        .claude/**, .mcp.json, .cursor/**, .zed/**, .nvim.lua, .exrc).
  --platform NAME       linux or win32. Default: this machine's.
  --policy-file FILE    Read the whole policy (JSON, the settings schema incl. workspaceRoots) from FILE instead
                        of the flags above; the VS Code extension starts terminals and tasks this way.`;

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function policyFlags(values: Record<string, unknown>): CliPolicyFlags {
  const network = values.network as string | undefined;
  if (network !== undefined && network !== 'offline' && network !== 'allowlist' && network !== 'online') {
    throw new UsageError(`--network must be "offline", "allowlist" or "online", not "${network}".`);
  }
  const allowDomain = (values['allow-domain'] as string[]) ?? [];
  const denyDomain = (values['deny-domain'] as string[]) ?? [];
  if ((allowDomain.length || denyDomain.length) && network !== 'allowlist') {
    throw new UsageError('--allow-domain and --deny-domain need --network allowlist.');
  }
  return {
    workspace: (values.workspace as string[]) ?? [],
    write: (values.write as string[]) ?? [],
    readOnly: Boolean(values['read-only']),
    network,
    protect: (values.protect as string[]) ?? [],
    allowDomain,
    denyDomain,
    strict: Boolean(values.strict),
  };
}

export function platformFlag(values: Record<string, unknown>, host: Platform | undefined): Platform {
  const p = (values.platform as string | undefined) ?? host;
  if (p === 'linux' || p === 'win32') return p;
  if (p === undefined) {
    throw new UsageError(
      `This machine (${process.platform}) is not supported; pass --platform linux or win32 to preview a plan.`,
    );
  }
  throw new UsageError(`--platform must be "linux" or "win32", not "${p}".`);
}

export function positiveSeconds(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive number of seconds, not "${raw}".`);
  return n;
}

/** The policy from `--policy-file` (alone), or from the policy flags. */
export function policyInput(values: Record<string, unknown>, cwd: string): PolicyInput {
  const file = values['policy-file'] as string | undefined;
  if (file === undefined) return policyFromCli(policyFlags(values), cwd);
  const mixed = ['workspace', 'write', 'protect', 'allow-domain', 'deny-domain']
    .filter((k) => (values[k] as string[] | undefined)?.length)
    .concat(
      values['read-only'] ? ['read-only'] : [],
      values.strict ? ['strict'] : [],
      values.network !== undefined ? ['network'] : [],
    );
  if (mixed.length) throw new UsageError(`--policy-file cannot be combined with --${mixed.join(', --')}.`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as PolicyInput;
  } catch (e) {
    throw new UsageError(`--policy-file ${file}: ${(e as Error).message}`);
  }
}
