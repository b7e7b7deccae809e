/**
 * Stable sandbox error codes and the user-facing error type. Every failure that stops a command from running
 * sandboxed maps to one code, a message saying what happened, and a fix saying what to do.
 * Must never be used to "soften" a failure into running unsandboxed.
 */

export const SandboxErrorCode = {
  InvalidPolicy: 'invalid-policy',
  RootRefused: 'root-refused',
  RootMissing: 'root-missing',
  UnsupportedPlatform: 'unsupported-platform',
  BackendUnavailable: 'backend-unavailable',
  BwrapMissing: 'bwrap-missing',
  BwrapUnusable: 'bwrap-unusable',
  LandlockUnavailable: 'landlock-unavailable',
  SeccompFailed: 'seccomp-failed',
  NativeLoadFailed: 'native-load-failed',
  AclGrantFailed: 'acl-grant-failed',
  AclAccessDenied: 'acl-access-denied',
  TokenFailed: 'token-failed',
  ProcessCreateFailed: 'process-create-failed',
  JobFailed: 'job-failed',
  SetupRequired: 'setup-required',
  SetupCancelled: 'setup-cancelled',
  SetupFailed: 'setup-failed',
  FirewallBlockedByPolicy: 'firewall-blocked-by-policy',
  FirewallNotEnforced: 'firewall-not-enforced',
  VolumeUnenforceable: 'volume-unenforceable',
  LogonFailed: 'logon-failed',
  BrokerFailed: 'broker-failed',
  UserNetUnavailable: 'usernet-unavailable',
  HiddenPath: 'hidden-path',
  Cancelled: 'cancelled',
  Internal: 'internal',
} as const;
export type SandboxErrorCode = (typeof SandboxErrorCode)[keyof typeof SandboxErrorCode];

export class SandboxError extends Error {
  override readonly name = 'SandboxError';
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    /** What the user should do about it. */
    readonly fix: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** One paragraph for a terminal or a notification. */
  describe(): string {
    return `${this.message}\nFix: ${this.fix}`;
  }
}

/** Exit codes of the CLI contract. */
export const ExitCode = {
  Timeout: 124,
  SandboxFailed: 125,
  SignalBase: 128,
} as const;
