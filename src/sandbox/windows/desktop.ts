/**
 * The private desktop of one backend, and how its commands are launched with respect to the UI: the facts of this
 * process (window station, SSH, its own job) read once, decided by ./ui-isolation, and the desktop created on first
 * use with a DACL for the given sandbox SIDs and SYSTEM, closed with the backend. Must never fall back to the
 * shared desktop when the decision says a private one can exist: a failed CreateDesktopW is a SandboxError.
 */
import {
  currentWindowStation,
  desktopSddl,
  PrivateDesktop,
  privateDesktopName,
} from '../../../native-bindings/win32/desktop';
import { outerJob } from '../../../native-bindings/win32/job';
import { SandboxError, SandboxErrorCode } from '../../errors';
import type { LaunchUi } from './launch';
import { privateDesktopDecision, uiIsolation, type UiFacts, type UiIsolation } from './ui-isolation';

/** This process's facts for ./ui-isolation. */
export function localUiFacts(env: NodeJS.ProcessEnv = process.env): UiFacts {
  return { sshSession: Boolean(env.SSH_CONNECTION), windowStation: currentWindowStation(), outerJob: outerJob() };
}

export class BackendDesktop {
  #decision: UiIsolation | undefined;
  #desktopGaps: string[] = [];
  #desktop: PrivateDesktop | undefined;

  /** `sids`: who may use the desktop besides SYSTEM (the sandbox's logon SID, or the sandbox accounts). */
  constructor(
    private readonly sids: () => string[],
    private readonly facts: () => UiFacts = () => localUiFacts(),
  ) {}

  /**
   * What to launch with, and what is not isolated (for the command's enforcement report); `desktopGaps` is the
   * private desktop's part alone (the elevated runner decides its job's UI limits itself and reports them).
   */
  launch(): { ui: LaunchUi; gaps: string[]; desktopGaps: string[] } {
    if (!this.#decision) {
      const facts = this.facts();
      this.#decision = uiIsolation(facts);
      this.#desktopGaps = privateDesktopDecision(facts).gaps;
    }
    const d = this.#decision;
    if (d.privateDesktop && !this.#desktop) {
      try {
        this.#desktop = PrivateDesktop.create(privateDesktopName(), desktopSddl(this.sids()));
      } catch (e) {
        throw new SandboxError(
          SandboxErrorCode.ProcessCreateFailed,
          `Could not create the sandbox's private desktop: ${(e as Error).message}. Nothing was run.`,
          'Report this with the error above; without a private desktop a sandboxed command could type into your windows.',
          { cause: e },
        );
      }
    }
    return {
      ui: {
        uiLimits: d.uiLimits,
        breakaway: d.breakaway,
        ...(this.#desktop ? { desktop: this.#desktop.lpDesktop } : {}),
      },
      gaps: d.gaps,
      desktopGaps: this.#desktopGaps,
    };
  }

  close(): void {
    this.#desktop?.close();
    this.#desktop = undefined;
  }
}
