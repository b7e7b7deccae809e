/**
 * How sandboxed commands are kept away from the developer's desktop, decided from facts about this process (pure,
 * unit-tested): a private desktop where one can exist (an interactive WinSta0 outside SSH), and job UI limits
 * (clipboard, global atoms, window handles...) where a job with UI limits can be made. A job with UI limits cannot
 * nest under the job this process already runs in (Remote-SSH, CI, Secondary Logon): then the child breaks away
 * from that job if it allows it, and otherwise the limits are left off and the reason is reported, never a wrong
 * one. Must never report a degraded isolation as complete.
 */
import type { Win32Weakening } from '../../policy/plan';
import type { LaunchUi } from './launch';

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
  const desktop = privateDesktopDecision(f);
  const job = jobUiLimits(f.outerJob, desktop.privateDesktop, 'caller');
  return {
    privateDesktop: desktop.privateDesktop,
    uiLimits: job.uiLimits,
    breakaway: job.breakaway,
    gaps: [...desktop.gaps, ...job.gaps],
  };
}

/** The private desktop alone: where one can exist, and otherwise why not. */
export function privateDesktopDecision(f: UiFacts): Pick<UiIsolation, 'privateDesktop' | 'gaps'> {
  const interactive = f.windowStation.toLowerCase() === 'winsta0';
  const privateDesktop = interactive && !f.sshSession;
  if (privateDesktop) return { privateDesktop, gaps: [] };
  return {
    privateDesktop,
    gaps: [
      f.sshSession
        ? 'No private desktop: this is an SSH session (SSH_CONNECTION), which has no interactive desktop to inject input into and cannot create one.'
        : `No private desktop: this process runs in window station "${f.windowStation}", not the interactive WinSta0, so there is no developer desktop to protect there.`,
    ],
  };
}

/**
 * The job UI limits alone, for a process in `outerJob`: the developer's own process (`caller`), or the elevated
 * runner (`runner`), which Secondary Logon starts in a job of its own, so its gap has another cause. Both modes
 * start commands on a private desktop when `privateDesktop`.
 */
export function jobUiLimits(
  outerJob: UiFacts['outerJob'],
  privateDesktop: boolean,
  holder: 'caller' | 'runner',
): Pick<UiIsolation, 'uiLimits' | 'breakaway' | 'gaps'> {
  if (!outerJob.inJob) return { uiLimits: true, breakaway: false, gaps: [] };
  if (outerJob.breakawayOk) return { uiLimits: true, breakaway: true, gaps: [] };
  const where =
    holder === 'caller'
      ? 'Agent Sandbox itself runs inside a job that does not allow breakaway (Remote-SSH, a CI runner or another launcher)'
      : 'the elevated sandbox runner runs inside the job Secondary Logon started it in, which does not allow breakaway';
  return {
    uiLimits: false,
    breakaway: false,
    gaps: [
      `No job UI limits (clipboard, global atoms, window handles): ${where}, and Windows refuses to nest a job with UI limits there.` +
        (privateDesktop && holder === 'caller'
          ? ' The private desktop alone does not stop input injection here: your logon SID in the token can open ' +
            'your desktop again. The clipboard is shared.'
          : ''),
    ],
  };
}

/**
 * The launch settings with Verify's test-hook weakenings taken out (the plan's `weakened`, never a user setting):
 * no private desktop, no UI limits. Without weakenings the settings are returned as they are.
 */
export function weakenedUi(ui: LaunchUi, w: Win32Weakening | undefined): LaunchUi {
  if (!w) return ui;
  const out: LaunchUi = { ...ui, ...(w.noUiLimits ? { uiLimits: false } : {}) };
  if (w.noPrivateDesktop) delete out.desktop;
  return out;
}
