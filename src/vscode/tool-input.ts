/**
 * The `sandbox` language-model tool's input: validation, path resolution, and the decision whether the user must
 * confirm (network requested, or a cwd / writable path outside the workspace). Pure (no `vscode` import).
 * Must never let a request widen the policy without `needsConfirmation` saying so.
 */
import * as path from 'node:path';
import * as z from 'zod';
import { domainProblem, expandDomains } from '../policy/domains';

export const ToolInputSchema = z
  .object({
    command: z.string().trim().min(1, 'must not be empty').describe('Shell command line to run.'),
    cwd: z
      .string()
      .trim()
      .min(1)
      .optional()
      .describe('Working directory; relative paths are inside the first workspace folder.'),
    network: z
      .enum(['offline', 'allowlist', 'online'])
      .optional()
      .describe('Network access for this command; default from settings. Prefer `allowDomains` over `online`.'),
    allowDomains: z
      .array(z.string().trim().min(1))
      .optional()
      .describe(
        'Hosts this command needs (allowlist mode), like "registry.npmjs.org" or "@npm". Hosts outside the ' +
          "configured allowlist need the user's confirmation. When a result lists a blocked host, ask for exactly the " +
          'grant it names instead of retrying.',
      ),
    timeout: z.number().positive().max(3600).optional().describe('Seconds before the command is killed (default 300).'),
    writablePaths: z.array(z.string().trim().min(1)).optional().describe('Extra folders the command must write.'),
  })
  .strict();
export type ToolInput = z.infer<typeof ToolInputSchema>;

export const DEFAULT_TOOL_TIMEOUT_S = 300;

export interface ToolRequest {
  command: string;
  cwd: string;
  network: 'offline' | 'allowlist' | 'online';
  timeoutMs: number;
  writablePaths: string[];
  /** Hosts asked for this command (validated entries); empty when none. */
  allowDomains: string[];
}

export interface ToolPolicyView {
  platform: 'linux' | 'win32';
  workspaceRoots: string[];
  network: 'offline' | 'allowlist' | 'online';
  /** The configured allowlist (presets expanded) plus this window's session grants. */
  allowedDomains?: string[];
}

/** Parses the model's input; throws an Error whose message tells the model what to fix. */
export function resolveToolInput(raw: unknown, view: ToolPolicyView): ToolRequest {
  const parsed = ToolInputSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      'Invalid input for the sandbox tool: ' +
        parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; '),
    );
  }
  const api = view.platform === 'win32' ? path.win32 : path.posix;
  const base = view.workspaceRoots[0];
  const abs = (p: string) => {
    if (api.isAbsolute(p)) return api.normalize(p);
    if (!base) throw new Error(`"${p}" is relative but no workspace folder is open; pass an absolute path.`);
    return api.resolve(base, p);
  };
  const input = parsed.data;
  if (!input.cwd && !base) throw new Error('No workspace folder is open; pass an absolute cwd.');
  const allowDomains = [...new Set(input.allowDomains ?? [])];
  for (const d of allowDomains) {
    const problem = domainProblem(d);
    if (problem) throw new Error(`Invalid input for the sandbox tool: allowDomains: ${problem}`);
  }
  // Asking for hosts implies the allowlist mode unless the request or the settings say otherwise.
  const network = input.network ?? (allowDomains.length && view.network === 'offline' ? 'allowlist' : view.network);
  if (allowDomains.length && network !== 'allowlist') {
    throw new Error(
      `Invalid input for the sandbox tool: allowDomains needs network "allowlist" (this request's network is "${network}").`,
    );
  }
  return {
    command: input.command,
    cwd: abs(input.cwd ?? base),
    network,
    timeoutMs: (input.timeout ?? DEFAULT_TOOL_TIMEOUT_S) * 1000,
    writablePaths: (input.writablePaths ?? []).map(abs),
    allowDomains,
  };
}

function insideWorkspace(p: string, view: ToolPolicyView): boolean {
  const api = view.platform === 'win32' ? path.win32 : path.posix;
  const key = (s: string) => (view.platform === 'win32' ? s.toLowerCase() : s);
  return view.workspaceRoots.some((r) => {
    const rel = api.relative(key(r), key(p));
    return rel === '' || (!rel.startsWith('..') && !api.isAbsolute(rel));
  });
}

/**
 * Writable roots the request's plan has that the configured plan does not, as the compiler resolved them (links
 * followed): `writablePaths: ["out"]` where `out` is a link to `~/.config` is inside the workspace as text only.
 */
export function addedWritableRoots(
  requested: { writableRoots: string[] },
  configured: { writableRoots: string[] },
  view: ToolPolicyView,
): string[] {
  const key = (s: string) => (view.platform === 'win32' ? s.toLowerCase() : s);
  const have = new Set(configured.writableRoots.map(key));
  return requested.writableRoots.filter((r) => !have.has(key(r)));
}

/**
 * Why the user must confirm this request, or an empty list when it stays within the configured policy. `resolved`
 * are the writable roots the request adds, as compiled (`addedWritableRoots`); any outside the workspace counts.
 */
export function confirmationReasons(req: ToolRequest, view: ToolPolicyView, resolved: string[] = []): string[] {
  const reasons: string[] = [];
  const order = ['offline', 'allowlist', 'online'];
  if (order.indexOf(req.network) > order.indexOf(view.network)) {
    reasons.push(
      req.network === 'online'
        ? 'it asks for network access (online: every host)'
        : 'it asks for network access (allowlist: only the hosts named)',
    );
  }
  const newHosts = ungrantedDomains(req.allowDomains, view.allowedDomains ?? []);
  if (newHosts.length) reasons.push(`it asks to reach hosts outside the allowlist: ${newHosts.join(', ')}`);
  if (!insideWorkspace(req.cwd, view)) reasons.push(`its working directory ${req.cwd} is outside the workspace`);
  const outside = [...new Set([...req.writablePaths, ...resolved])].filter((p) => !insideWorkspace(p, view));
  if (outside.length) reasons.push(`it asks to write outside the workspace: ${outside.join(', ')}`);
  return reasons;
}

/** Requested entries (presets expanded) that the allowlist does not already contain, as written. */
export function ungrantedDomains(requested: string[], allowed: string[]): string[] {
  const have = new Set(expandDomains(allowed).map((d) => d.toLowerCase()));
  return requested.filter((r) => expandDomains([r]).some((d) => !have.has(d.toLowerCase())));
}
