/**
 * The policy schema: the single source of truth for what a sandbox policy may say.
 * Types come from `z.infer`; defaults live here and nowhere else.
 * Must never touch the filesystem or the environment: this module is pure.
 */
import * as z from 'zod';

/**
 * Globs (relative to each writable root) that stay read-only even inside a writable root. Each closes a way for a
 * sandboxed command to get code run later outside the sandbox (git hooks and config, editor tasks and settings).
 */
export const DEFAULT_PROTECTED_PATHS: readonly string[] = [
  '.git/hooks/**',
  '.git/config',
  // Git reads the config of the folder named here: writing it would be as good as writing .git/config.
  '.git/commondir',
  '.vscode/**',
  '.agent-sandbox/**',
];

/** Credential locations hidden from the sandbox. `~` is the user's home; `%VAR%` is a Windows environment variable. */
export const DEFAULT_DENY_READ: readonly string[] = [
  '~/.ssh',
  '~/.aws',
  '~/.azure',
  '~/.config/gcloud',
  '~/.kube',
  '~/.docker',
  '~/.gnupg',
  '~/.netrc',
  '~/.git-credentials',
  '~/.config/gh',
  '%APPDATA%/gcloud',
  '%APPDATA%/GitHub CLI',
  '%USERPROFILE%/_netrc',
  '%LOCALAPPDATA%/Microsoft/Credentials',
  '%APPDATA%/Microsoft/Credentials',
  '%APPDATA%/Microsoft/Protect',
];

/** Environment variable name globs removed before a command runs (matched case-insensitively). */
export const DEFAULT_ENV_SCRUB: readonly string[] = [
  '*_TOKEN',
  '*_SECRET',
  '*_SECRET_*',
  '*_KEY',
  '*_PASSWORD',
  '*_PASSWD',
  '*_CREDENTIALS',
  '*_API_KEY',
  'AWS_*',
  'AZURE_*',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'GITHUB_TOKEN',
  'GH_TOKEN',
  'NPM_TOKEN',
  'SSH_AUTH_SOCK',
  'SSH_AGENT_PID',
  'GPG_AGENT_INFO',
  'DOCKER_HOST',
  'KUBECONFIG',
  'VSCODE_GIT_IPC_HANDLE',
  'VSCODE_GIT_ASKPASS_*',
  'GIT_ASKPASS',
  'DBUS_SESSION_BUS_ADDRESS',
];

const nonEmpty = z.string().trim().min(1, 'must not be empty');

export const ModeSchema = z
  .enum(['read-only', 'workspace-write', 'full-access'])
  .describe(
    '`read-only`: nothing is writable except the sandbox temp. `workspace-write`: the workspace roots and ' +
      '`writableRoots`. `full-access`: no sandbox at all; refused unless `allowFullAccess` is true.',
  );

export const NetworkSchema = z
  .enum(['offline', 'online'])
  .describe('`offline`: no network except loopback-free Unix sockets. `online`: the network is reachable.');

export const EnvPolicySchema = z
  .object({
    scrub: z
      .array(nonEmpty)
      .default([...DEFAULT_ENV_SCRUB])
      .describe('Glob patterns of variable names removed from the environment. Empty means nothing is scrubbed.'),
    allow: z
      .array(nonEmpty)
      .default([])
      .describe('Exact variable names kept even when a `scrub` pattern matches. Empty means none are kept.'),
    set: z
      .record(z.string(), z.string())
      .default({})
      .describe('Variables set inside the sandbox, applied after scrubbing.'),
  })
  .strict();

export const PolicySchema = z
  .object({
    mode: ModeSchema.default('workspace-write'),
    workspaceRoots: z
      .array(nonEmpty)
      .default([])
      .describe('The workspace folders. Writable in `workspace-write` mode. Empty means no workspace is writable.'),
    writableRoots: z
      .array(nonEmpty)
      .default([])
      .describe('Extra writable directories besides the workspace folders. Empty means only the workspace.'),
    protectedPaths: z
      .array(nonEmpty)
      .default([...DEFAULT_PROTECTED_PATHS])
      .describe(
        'Globs relative to each writable root that stay read-only. A glob is a literal path, optionally ending ' +
          'in `/**`. Empty means nothing inside a root is protected.',
      ),
    denyRead: z
      .array(nonEmpty)
      .default([...DEFAULT_DENY_READ])
      .describe('Credential files and folders hidden from the sandbox. Empty means nothing is hidden.'),
    network: NetworkSchema.default('offline'),
    env: EnvPolicySchema.default({ scrub: [...DEFAULT_ENV_SCRUB], allow: [], set: {} }),
    allowFullAccess: z
      .boolean()
      .default(false)
      .describe('Must be true for `mode: full-access` to be accepted.'),
    allowUncPaths: z
      .boolean()
      .default(false)
      .describe('Windows: accept `\\\\server\\share` roots. Off by default because a share may be writable by others.'),
    allowHostLoopback: z
      .boolean()
      .default(false)
      .describe('Linux, `online`: share the host\'s network, 127.0.0.1 included (a Node inspector, Jupyter or local ' +
        'database there would accept the sandbox\'s connections). Off: online commands get their own network ' +
        'namespace with slirp4netns and no route to the host\'s loopback.'),
    requireFullLandlock: z
      .boolean()
      .default(false)
      .describe('Linux: refuse to run commands when the kernel lacks Landlock or offers an ABI below 6 (then abstract ' +
        'Unix sockets and signals are not scoped to the sandbox). Off: such kernels run with what is lost reported.'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.mode === 'full-access' && !p.allowFullAccess) {
      ctx.addIssue({
        code: 'custom',
        path: ['mode'],
        message:
          '"full-access" runs commands with no sandbox. Set allowFullAccess to true to accept that, or use ' +
          '"workspace-write".',
      });
    }
    p.protectedPaths.forEach((glob, i) => {
      const problem = protectedGlobProblem(glob);
      if (problem) ctx.addIssue({ code: 'custom', path: ['protectedPaths', i], message: problem });
    });
  });

/**
 * What a placeholder for a missing protected file must contain so that tools keep working: an empty file is not
 * always harmless. `.git/commondir` holding "." names the repository's own folder, which is what git assumes when
 * the file is absent; an empty one makes git fail. Keyed by the path relative to the root.
 */
export const PLACEHOLDER_CONTENT: Readonly<Record<string, string>> = { '.git/commondir': '.\n' };

export type PolicyInput = z.input<typeof PolicySchema>;
export type Policy = z.infer<typeof PolicySchema>;
export type Mode = z.infer<typeof ModeSchema>;
export type Network = z.infer<typeof NetworkSchema>;

const MAGIC = /[*?[\]{}()!+@]/;

/**
 * Protected globs must be enforceable without walking the tree: a literal relative path, optionally ending in
 * `/**` (the directory and everything below it). Returns why a glob is refused, or undefined.
 */
export function protectedGlobProblem(glob: string): string | undefined {
  const g = glob.replace(/\\/g, '/');
  if (g.startsWith('/') || /^[a-zA-Z]:/.test(g)) {
    return `"${glob}" is absolute. Protected paths are relative to each writable root, like ".vscode/**".`;
  }
  const literal = g.endsWith('/**') ? g.slice(0, -3) : g;
  if (literal.split('/').some((s) => s === '..')) {
    return `"${glob}" climbs out of the root with "..". Name a path inside the root.`;
  }
  if (literal === '' || literal === '.' || literal === '**') {
    return `"${glob}" would protect the whole root. Use mode "read-only" instead.`;
  }
  if (MAGIC.test(literal)) {
    return (
      `"${glob}" has wildcards before its end. Only literal paths, optionally ending in "/**", can be ` +
      'enforced without scanning the whole workspace: name the folder, like ".vscode/**".'
    );
  }
  return undefined;
}
