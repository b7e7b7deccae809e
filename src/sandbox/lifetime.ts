/**
 * The end of a sandboxed command, shared by every launch path of both platforms (Linux cold and brokered, Windows
 * unelevated and elevated): timeout and AbortSignal handling, an idempotent tree kill, and the one ExitInfo mapping
 * (own code, 124 on timeout, 128+N for signal N; a cancelled command is 137 everywhere).
 */
import { constants } from 'node:os';
import type { ExitInfo, SpawnSpec } from './types';
import { ExitCode } from '../errors';

export class Lifetime {
  private timedOut = false;
  private stopped: string | undefined;
  private killed = false;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  private readonly onAbort = () => this.kill();

  /** `killTree` must kill every process of the command; it is called at most once. */
  constructor(
    private readonly spec: Pick<SpawnSpec, 'timeoutMs' | 'signal'>,
    private readonly killTree: () => void,
  ) {}

  /** Arms the timeout and the abort signal; call once the command is running. */
  arm(): void {
    // A fast command can report its exit before the caller gets round to arming: nothing left to time or abort.
    if (this.finished) return;
    if (this.spec.signal?.aborted) return this.kill();
    this.spec.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.spec.timeoutMs !== undefined) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.kill();
      }, this.spec.timeoutMs);
    }
  }

  /** Kills the command because the sandbox can no longer hold; its exit is 125 with `reason`. */
  stop(reason: string): void {
    if (this.finished) return;
    this.stopped ??= reason;
    this.kill();
  }

  kill(): void {
    if (this.killed) return;
    this.killed = true;
    this.killTree();
  }

  /** The ExitInfo for a command that ended with `code`/`signal` (the runner's report, or bwrap's own). */
  finish(code: number | null, signal: string | null | undefined): ExitInfo {
    this.finished = true;
    clearTimeout(this.timer);
    this.spec.signal?.removeEventListener('abort', this.onAbort);
    const durationMs = Date.now() - this.started;
    if (this.timedOut) return { code: ExitCode.Timeout, timedOut: true, signal: 'SIGKILL', durationMs };
    if (this.stopped)
      return { code: ExitCode.SandboxFailed, timedOut: false, signal: 'SIGKILL', durationMs, stopped: this.stopped };
    if (signal) {
      const n = constants.signals[signal as NodeJS.Signals] ?? 0;
      return { code: ExitCode.SignalBase + n, timedOut: false, signal, durationMs };
    }
    return { code: code ?? ExitCode.SandboxFailed, timedOut: false, durationMs };
  }

  /**
   * The ExitInfo on Windows, which has no signals: a tree this lifetime ended (timeout or cancel) is reported like
   * SIGKILL, whatever exit code the job gave its processes, so a cancel reads 137 on both platforms.
   */
  finishWithoutSignals(code: number): ExitInfo {
    return this.finish(code, this.killed ? 'SIGKILL' : null);
  }
}
