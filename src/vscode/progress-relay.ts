/**
 * Shows a backend's one-time preparation (for example Windows ACL grants on a large workspace) as a progress
 * notification: the first report opens it; it closes when done reaches total, or after reports stop for a while.
 * Its Cancel button aborts the preparations under way (they stop between operations and keep what they applied).
 * Must never block the operation it reports on.
 */
import * as vscode from 'vscode';

export interface BackendProgress {
  message: string;
  done: number;
  total: number;
}

const IDLE_CLOSE_MS = 10_000;

export class ProgressRelay {
  private sink: ((p: BackendProgress) => void) | undefined;
  private cancel = new AbortController();

  constructor(
    private readonly title: string,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  readonly report = (p: BackendProgress): void => {
    this.log.info(`${p.message} (${p.done}/${p.total})`);
    (this.sink ?? this.open())(p);
  };

  /** For BackendOptions.preparationSignal: aborted when the user cancels the notification (then renewed). */
  readonly signal = (): AbortSignal => {
    if (this.cancel.signal.aborted) this.cancel = new AbortController();
    return this.cancel.signal;
  };

  private open(): (p: BackendProgress) => void {
    let shown = 0;
    let idle: NodeJS.Timeout | undefined;
    let finish!: () => void;
    const closed = new Promise<void>((r) => (finish = r));
    let progress: vscode.Progress<{ message?: string; increment?: number }> | undefined;
    let latest: BackendProgress | undefined;
    const show = () => {
      if (!progress || !latest) return;
      const pct = latest.total > 0 ? Math.min(100, (latest.done / latest.total) * 100) : 0;
      progress.report({ message: latest.message, increment: Math.max(0, pct - shown) });
      shown = Math.max(shown, pct);
    };
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: this.title, cancellable: true },
      (p, token) => {
        progress = p;
        token.onCancellationRequested(() => {
          this.log.warn('Preparation cancelled by the user; it resumes on the next run.');
          this.cancel.abort();
          finish();
        });
        show();
        return closed;
      },
    );
    const sink = (p: BackendProgress) => {
      latest = p;
      show();
      clearTimeout(idle);
      if (p.total > 0 && p.done >= p.total) finish();
      else idle = setTimeout(finish, IDLE_CLOSE_MS);
    };
    this.sink = sink;
    void closed.then(() => {
      clearTimeout(idle);
      this.sink = undefined;
    });
    return sink;
  }
}
