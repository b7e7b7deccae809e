/**
 * Names and numbers of elevated mode that setup, status, uninstall and the broker must agree on. Changing one of
 * these strands what an older setup created, so bump SETUP_VERSION and teach uninstall the old name instead.
 */
import { SANDBOX_GROUP, SANDBOX_USERS } from '../../../policy/compile-win32';

export { SANDBOX_USERS };

/** Bumped when setup creates something new; status reports "setup needed" when the marker is older. */
/** 2: the offline account's block scoped around the allowlist proxy's loopback ports; DNS, ICMP and SMB rules. */
export const SETUP_VERSION = 2;

export const GROUP_NAME = SANDBOX_GROUP;
export const GROUP_COMMENT = 'Agent Sandbox: accounts that run sandboxed commands.';

/** Builtin Users (S-1-5-32-545): looked up by SID because its name is localized. */
export const BUILTIN_USERS_SID = 'S-1-5-32-545';

/** Where setup records what it did, machine-wide (users and rules are machine-wide). Readable by everyone. */
export const MARKER_KEY = 'SOFTWARE\\AgentSandbox';
/** Accounts listed here with DWORD 0 are hidden from the sign-in screen. */
/** The accounts setup created (name → SID, or 'pending' while creating): only these are ever deleted. */
export const CREATED_KEY = 'SOFTWARE\\AgentSandboxCreatedAccounts';
/** The firewall rules setup created (value `Names`: a JSON list), recorded before each is added: uninstall removes these. */
export const CREATED_RULES_KEY = 'SOFTWARE\\AgentSandboxCreatedRules';
/** Value `Record`: what setup did to %ProgramData%\\AgentSandbox (folders it created, the DACL it replaced), as JSON. */
export const RUNTIME_ROOT_KEY = 'SOFTWARE\\AgentSandboxRuntimeRoot';
/** Value `Copies`: the runner's runtime copies setup made, as JSON ({dir, runtimeOf}[]). */
export const RUNTIME_KEY = 'SOFTWARE\\AgentSandboxRuntime';
export const SPECIAL_ACCOUNTS_KEY = 'SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\SpecialAccounts';
export const HIDE_USERS_KEY = `${SPECIAL_ACCOUNTS_KEY}\\UserList`;
/** Value `Names`: which of SpecialAccounts and UserList setup created (JSON), recorded before creating them. */
export const CREATED_KEYS_KEY = 'SOFTWARE\\AgentSandboxCreatedKeys';

/** The firewall rule group, so the rules are easy to find in wf.msc and to remove as a set. */
export const FIREWALL_GROUPING = 'Agent Sandbox';

/** Random password length in characters (each character carries 6 bits; 32 chars = 192 bits). */
export const PASSWORD_LENGTH = 32;

/** Credentials file (per-user DPAPI blobs) inside the caller's state directory. */
export const CREDENTIALS_FILE = 'elevated-credentials.json';
