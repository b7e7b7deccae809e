/**
 * The policy schema: the single source of truth for what a sandbox policy may say.
 * Types come from `z.infer`; defaults live here and nowhere else.
 * Must never touch the filesystem or the environment: this module is pure.
 */
import * as z from 'zod';
import { DOMAIN_PRESETS, domainProblem } from './domains';

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
  // direnv runs .envrc in the user's shell on `cd`; its `dotenv` exports .env there too.
  '.envrc',
  '.env',
];

/** Why each default protected path is protected, shown in the plan. */
export const PROTECTED_REASONS: Readonly<Record<string, string>> = {
  '.git/hooks/**': 'hooks run on commit, merge, checkout and push',
  '.git/config': 'git runs core.fsmonitor, core.sshCommand, core.pager, aliases and filters from it',
  '.git/commondir': 'names the folder whose config and hooks git uses',
  '.vscode/**': 'VS Code runs its tasks (runOn: folderOpen), settings and launch configurations on the host',
  '.agent-sandbox/**': "Agent Sandbox's own workspace state",
  '.envrc': 'direnv runs it in your shell when you enter the folder',
  '.env': "direnv's dotenv (and many tools) export it into your shell",
  '.devcontainer/**': 'Dev Containers run its lifecycle commands on the host',
  '.devcontainer.json': 'Dev Containers run its lifecycle commands on the host',
  '.idea/**': 'JetBrains IDEs run its run configurations and startup tasks',
  '.claude/**': 'Claude Code runs its hooks on the host',
  '.mcp.json': 'agents start the MCP servers it lists',
  '.cursor/**': "Cursor's rules and MCP servers",
  '.zed/**': "Zed's tasks and settings",
  '.nvim.lua': "Neovim runs it with 'exrc'",
  '.exrc': "Vim and Neovim run it with 'exrc'",
};

/**
 * The optional stricter preset (`protectedPreset: "strict"`): workspace files other tools run on the host. Left out
 * of the defaults because many projects edit them on purpose. What stays inherent to a writable workspace (package
 * scripts, Makefiles, virtualenvs, build files) is listed in the README.
 */
export const STRICT_PROTECTED_PATHS: readonly string[] = [
  '.devcontainer/**', // Dev Containers: postCreateCommand and friends
  '.devcontainer.json',
  '.idea/**', // JetBrains run configurations and startup tasks
  '.claude/**', // Claude Code hooks and settings
  '.mcp.json', // MCP servers started by agents
  '.cursor/**', // Cursor rules and MCP config
  '.zed/**', // Zed tasks and settings
  '.nvim.lua', // Neovim 'exrc'
  '.exrc', // Vim/Neovim 'exrc'
];

/**
 * Credential locations hidden from the sandbox. `~` is the user's home; `%VAR%` is a Windows environment variable.
 * A list, not the whole home folder: toolchains live in the home folder (nvm, rustup, cargo, go, pyenv, ~/.local)
 * and read their own config there. Each entry holds secrets or replays them: keys, tokens, history, keyrings,
 * browser profiles. The first block is the original floor.
 */
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
  // Git's XDG credential store, and the credential-cache daemon's socket folder.
  '~/.config/git/credentials',
  '~/.cache/git/credential',
  // Package registry tokens: npm/yarn/pnpm, PyPI, Cargo, RubyGems, Maven's master password, Gradle properties.
  '~/.npmrc',
  '~/.yarnrc.yml',
  '~/.pypirc',
  '~/.cargo/credentials.toml',
  '~/.cargo/credentials',
  '~/.gem/credentials',
  '~/.m2/settings-security.xml',
  '~/.gradle/gradle.properties',
  // Cloud, infrastructure and container registry auth.
  '~/.vault-token',
  '~/.terraform.d/credentials.tfrc.json',
  '~/.terraformrc',
  '~/.config/containers/auth.json',
  '~/.oci',
  '~/.config/doctl',
  '~/.s3cfg',
  '~/.boto',
  '~/.config/rclone',
  '~/.config/hub',
  '~/.config/glab-cli',
  '~/.1password',
  '~/.config/op',
  // Shell and REPL history (commands with secrets typed inline).
  '~/.bash_history',
  '~/.zsh_history',
  '~/.local/share/fish/fish_history',
  '~/.python_history',
  '~/.node_repl_history',
  '~/.psql_history',
  '~/.mysql_history',
  '~/.sqlite_history',
  '%APPDATA%/Microsoft/Windows/PowerShell/PSReadLine',
  // Password stores and keyrings.
  '~/.password-store',
  '~/.local/share/keyrings',
  '~/.pki',
  // Browser and mail profiles (cookies, saved passwords, session tokens).
  '~/.mozilla',
  '~/.thunderbird',
  '~/.config/google-chrome',
  '~/.config/chromium',
  '~/.config/BraveSoftware',
  '~/.config/microsoft-edge',
  '%APPDATA%/Mozilla',
  '%LOCALAPPDATA%/Google/Chrome/User Data',
  '%LOCALAPPDATA%/Microsoft/Edge/User Data',
  '%LOCALAPPDATA%/BraveSoftware',
];

/**
 * Environment variable name globs removed before a command runs: matched case-insensitively and without path
 * semantics (`*` also matches `/`, so `*TOKEN*` catches npm's `//registry/:_authToken`). A variable whose value holds
 * `scheme://user:password@` is removed too (see `compileEnv`). `env.allow` wins over both.
 */
export const DEFAULT_ENV_SCRUB: readonly string[] = [
  '*PASSWORD*',
  '*PASSWD*',
  '*_PWD',
  '*PASSPHRASE*',
  '*TOKEN*',
  '*SECRET*',
  '*_AUTH',
  '*SESSION*',
  'TF_TOKEN_*',
  'DATABASE_URL',
  '*/*',
  '*_KEY',
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
  // Variables naming host sockets: terminal multiplexers, editors and window managers take commands there.
  'STY',
  'TMUX',
  'TMUX_PANE',
  'ZELLIJ*',
  'KITTY_LISTEN_ON',
  'WEZTERM_UNIX_SOCKET',
  'NVIM',
  'NVIM_LISTEN_ADDRESS',
  'VSCODE_IPC_HOOK*',
  'I3SOCK',
  'SWAYSOCK',
  'HYPRLAND_INSTANCE_SIGNATURE',
  'PULSE_SERVER',
];

/** Kept although a scrub pattern matches (`*SESSION*`): the login session's type and class name no socket. */
export const DEFAULT_ENV_ALLOW: readonly string[] = ['XDG_SESSION_*'];

const nonEmpty = z.string().trim().min(1, 'must not be empty');

export const ModeSchema = z
  .enum(['read-only', 'workspace-write', 'full-access'])
  .describe(
    '`read-only`: nothing is writable except the sandbox temp. `workspace-write`: the workspace roots and ' +
      '`writableRoots`. `full-access`: no sandbox at all; refused unless `allowFullAccess` is true.',
  );

export const NetworkSchema = z
  .enum(['offline', 'allowlist', 'online'])
  .describe(
    '`offline`: no network except loopback-free Unix sockets. `allowlist`: only `allowedDomains`, through ' +
      'a host-side proxy the sandbox cannot go around. `online`: the network is reachable.',
  );

const domainList = (what: string) => z.array(nonEmpty).default([]).describe(what);

export const EnvPolicySchema = z
  .object({
    scrub: z
      .array(nonEmpty)
      .default([...DEFAULT_ENV_SCRUB])
      .describe('Glob patterns of variable names removed from the environment. Empty means nothing is scrubbed.'),
    allow: z
      .array(nonEmpty)
      .default([...DEFAULT_ENV_ALLOW])
      .describe(
        'Variable names or globs kept even when a `scrub` pattern matches (or the value holds a password). ' +
          'Empty means none are kept.',
      ),
    set: z
      .record(z.string(), z.string())
      .default({})
      .describe('Variables set inside the sandbox, applied after scrubbing.'),
  })
  .strict();

/** Default resource limits per sandbox: far above a build's needs, far below what takes a workstation down. */
export const DEFAULT_MAX_PROCESSES = 4096;
export const DEFAULT_MAX_MEMORY_MB = 8192;

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
    allowedDomains: domainList(
      '`allowlist` mode: hosts the sandbox may reach through the proxy. An exact host, `*.suffix` (names below it), ' +
        'an IP literal or `localhost` (each matches only when listed literally), optionally with `:port`, or a ' +
        `preset (${Object.keys(DOMAIN_PRESETS).join(', ')}). Empty allows nothing.`,
    ),
    deniedDomains: domainList(
      'Hosts refused even when `allowedDomains` (or a grant) names them: deny wins. Empty denies none.',
    ),
    env: EnvPolicySchema.default({ scrub: [...DEFAULT_ENV_SCRUB], allow: [...DEFAULT_ENV_ALLOW], set: {} }),
    protectedPreset: z
      .enum(['default', 'strict'])
      .default('default')
      .describe(
        "`strict` also protects other tools' workspace files (STRICT_PROTECTED_PATHS: dev containers, " +
          'JetBrains, Claude, Cursor, Zed, MCP, Vim exrc).',
      ),
    workspaceFile: nonEmpty
      .optional()
      .describe('The open `.code-workspace` file; protected when it lies in a writable root.'),
    allowFullAccess: z.boolean().default(false).describe('Must be true for `mode: full-access` to be accepted.'),
    allowUncPaths: z
      .boolean()
      .default(false)
      .describe('Windows: accept `\\\\server\\share` roots. Off by default because a share may be writable by others.'),
    allowHostLoopback: z
      .boolean()
      .default(false)
      .describe(
        "Linux, `online`: share the host's network, 127.0.0.1 included (a Node inspector, Jupyter or local " +
          "database there would accept the sandbox's connections). Off: online commands get their own network " +
          "namespace with slirp4netns and no route to the host's loopback.",
      ),
    requireFullLandlock: z
      .boolean()
      .default(false)
      .describe(
        'Linux: refuse to run commands when the kernel lacks Landlock or offers an ABI below 6 (then abstract ' +
          'Unix sockets and signals are not scoped to the sandbox). Off: such kernels run with what is lost reported.',
      ),
    requireEnforcedFirewall: z
      .boolean()
      .default(true)
      .describe(
        'Windows, elevated: refuse offline and allowlist commands while Windows Defender Firewall is not enforcing ' +
          "the offline account's block (off for an active profile, overridden by Group Policy, or unreadable). Off: " +
          'they run, reported as network not enforced.',
      ),
    requireEnforceableVolumes: z
      .boolean()
      .default(true)
      .describe(
        'Windows: refuse to run when a writable folder or the sandbox temp is on a network share or on a volume ' +
          'without file permissions (FAT/exFAT), where ACLs restrict nothing. Off: such commands run, reported as not ' +
          'enforced there.',
      ),
    maxProcesses: z
      .number()
      .int()
      .min(0)
      .default(DEFAULT_MAX_PROCESSES)
      .describe(
        'Linux: the most processes and threads one sandbox may hold at once (a fork bomb stops there), through a ' +
          'cgroup where one can be made. 0: no limit.',
      ),
    maxMemoryMb: z
      .number()
      .int()
      .min(0)
      .default(DEFAULT_MAX_MEMORY_MB)
      .describe(
        'Linux: memory in MiB one sandbox may use (a cgroup: the whole sandbox, the biggest process is killed past ' +
          'it); without a cgroup, each process may allocate this much (RLIMIT_DATA). 0: no limit.',
      ),
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
    for (const field of ['allowedDomains', 'deniedDomains'] as const) {
      p[field].forEach((d, i) => {
        const problem = domainProblem(d);
        if (problem) ctx.addIssue({ code: 'custom', path: [field, i], message: problem });
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
export type NetworkMode = z.infer<typeof NetworkSchema>;
/** The network of a sandbox user account (Windows elevated): `allowlist` runs as the offline user. */
export type Network = Exclude<NetworkMode, 'allowlist'>;

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
