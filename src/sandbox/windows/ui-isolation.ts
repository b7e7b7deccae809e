/**
 * How sandboxed commands are kept away from the developer's desktop, decided from facts about this process (pure,
 * unit-tested): a private desktop where one can exist (an interactive WinSta0 outside SSH), and job UI limits
 * (clipboard, global atoms, window handles...) where a job with UI limits can be made. A job with UI limits cannot
 * nest under the job this process already runs in (Remote-SSH, CI, Secondary Logon): then the child breaks away
 * from that job if it allows it, and otherwise the limits are left off and the reason is reported, never a wrong
 * one. Must never report a degraded isolation as complete.
 */

export interface UiFacts {
  /** SSH_CONNECTION is set (Win32-OpenSSH): no interactive desktop to protect, and CreateDesktopW fails there. */
  sshSession: boolean;
  /** This process's window station ("WinSta0" when interactive). */
  windowStation: string;
  outerJob: { inJob: boolean; breakawayOk: boolean };
}

export interface UiIsolation {
  /** Create a private desktop and start commands on it. */
  privateDesktop: boolean;
  /** Set the job's UI limits. */
  uiLimits: boolean;
  /** Start commands with CREATE_BREAKAWAY_FROM_JOB (out of this process's job, which allows it). */
  breakaway: boolean;
  /** What is not isolated and why; empty when both protections are in place. */
  gaps: string[];
}

export function uiIsolation(f: UiFacts): UiIsolation {
  const gaps: string[] = [];
  const interactive = f.windowStation.toLowerCase() === 'winsta0';
  const privateDesktop = interactive && !f.sshSession;
  if (!privateDesktop) {
    gaps.push(
      f.sshSession
        ? 'No private desktop: this is an SSH session (SSH_CONNECTION), which has no interactive desktop to inject input into and cannot create one.'
        : `No private desktop: this process runs in window station "${f.windowStation}", not the interactive WinSta0, so there is no developer desktop to protect there.`,
    );
  }
  if (!f.outerJob.inJob) return { privateDesktop, uiLimits: true, breakaway: false, gaps };
  if (f.outerJob.breakawayOk) return { privateDesktop, uiLimits: true, breakaway: true, gaps };
  gaps.push(
    'No job UI limits (clipboard, global atoms, window handles): Agent Sandbox itself runs inside a job that does not ' +
      'allow breakaway (Remote-SSH, a CI runner or another launcher), and Windows refuses to nest a job with UI limits there.' +
      (privateDesktop ? ' Input injection is still blocked by the private desktop; the clipboard is shared.' : ''),
  );
  return { privateDesktop, uiLimits: false, breakaway: false, gaps };
}
