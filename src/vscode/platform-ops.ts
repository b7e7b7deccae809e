/**
 * Set Up, Verify and Remove as the extension shows them: progress, cancel, notifications and the log, over the
 * platform lifecycle (sandbox/lifecycle.ts), which the CLI uses too. Verify runs the self-test probe and shows its
 * report (cancellable: it then cleans up and shows no report).
 * Must never say "ready" or "verified" unless the lifecycle or the probe said so.
 */
import * as vscode from 'vscode';
import { SandboxError, SandboxErrorCode } from '../errors';
import type { BackendStatus } from '../sandbox';
import type { SandboxService } from './service';

export interface PlatformOps {
  setUp(): Promise<void>;
  /** True once removed; false when the user declined or something stayed (the state is then kept for a retry). */
  remove(): Promise<boolean>;
  /** Windows: reverts this workspace's ACEs and placeholders only; the rest of the sandbox stays. */
  removeWorkspace(): Promise<void>;
  verify(): Promise<void>;
}

type Progress = vscode.Progress<{ message?: string; increment?: number }>;

/** A progress notification; with a Cancel button only when `fn` honours the signal. */
function withProgress<T>(
  title: string,
  cancellable: boolean,
  fn: (p: Progress, signal: AbortSignal) => Promise<T>,
): Thenable<T> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable },
    (p, token) => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      return fn(p, ac.signal);
    },
  );
}

async function copyableError(message: string, fix: string): Promise<void> {
  const pick = await vscode.window.showErrorMessage(`${message}\nFix: ${fix}`, 'Copy Fix');
  if (pick) await vscode.env.clipboard.writeText(fix);
}

export function platformOps(service: SandboxService, log: vscode.LogOutputChannel): PlatformOps {
  const lifecycle = async () => (await import('../sandbox/index.js')).lifecycleFor(service.platform());
  return {
    async setUp() {
      const plan = service.plan();
      const result = await withProgress(
        'Agent Sandbox: setting up…',
        service.platform() === 'win32',
        async (p, signal) =>
          (await lifecycle()).setUp({
            stateDir: service.stateDir,
            workspaceRoots: plan.writableRoots,
            extensionDir: service.extensionPath,
            signal,
            onProgress: (message: string) => {
              log.info(`Set Up: ${message}`);
              p.report({ message });
            },
          }),
      );
      await service.dispose(); // the next run loads the backend again, with the new facts
      log.info(`Set Up: ${result.state}: ${result.summary}`);
      if (result.state !== 'ready') {
        await copyableError(
          `Agent Sandbox is not ready: ${result.summary}`,
          result.fix ?? 'See the Agent Sandbox log.',
        );
      } else if (result.problems.length) {
        log.warn(`Set Up finished with problems:\n  ${result.problems.join('\n  ')}`);
        void vscode.window.showWarningMessage(
          `Agent Sandbox: set up, with ${result.problems.length} problem(s): ${result.problems.join('; ')}`,
        );
      } else {
        void vscode.window.showInformationMessage(`Agent Sandbox is ready: ${result.summary}`);
      }
    },
    async remove() {
      const ok = await vscode.window.showWarningMessage(
        "Remove Agent Sandbox's setup and state from this machine?",
        { modal: true },
        'Remove',
      );
      if (ok !== 'Remove') return false;
      await service.dispose();
      const { removalLines, removalSummary } = await import('../sandbox/index.js');
      // Windows reverts the unelevated permissions first (no prompt) and asks for administrator rights only if setup was run.
      const result = await withProgress('Agent Sandbox: removing…', false, async (p) =>
        (await lifecycle()).uninstall({
          stateDir: service.stateDir,
          onProgress: (message: string) => {
            log.info(`Remove: ${message}`);
            p.report({ message });
          },
        }),
      );
      for (const line of removalLines(result)) log.info(`Remove: ${line}`);
      if (result.failed.length) {
        void vscode.window.showWarningMessage(`Agent Sandbox: ${removalSummary('Remove', result)}`);
        return false;
      }
      if (result.kept.length) {
        void vscode.window.showInformationMessage(
          `Agent Sandbox: kept ${result.kept.length} folder(s)/file(s) you wrote into: ` +
            result.kept.map((k) => k.path).join(', '),
        );
      }
      void vscode.window.showInformationMessage('Agent Sandbox: removed.');
      return true;
    },
    async removeWorkspace() {
      // Refused before any question where the platform has nothing per workspace to take back (Linux).
      if (service.platform() !== 'win32')
        await (await lifecycle()).removeWorkspace({ stateDir: service.stateDir, roots: [] });
      const roots = service.plan().workspaceRoots;
      if (!roots.length) {
        void vscode.window.showInformationMessage(
          'Agent Sandbox: no workspace folder is open, so there is nothing to remove.',
        );
        return;
      }
      const ok = await vscode.window.showWarningMessage(
        `Remove the permissions Agent Sandbox added to ${roots.join(', ')}? ` +
          'The next sandboxed command in this workspace sets them again.',
        { modal: true },
        'Remove',
      );
      if (ok !== 'Remove') return;
      await service.dispose(); // no runner may hold the workspace while its ACEs go
      const { removalLines, removalSummary } = await import('../sandbox/index.js');
      const result = await withProgress("Agent Sandbox: removing this workspace's permissions…", false, async () =>
        (await lifecycle()).removeWorkspace({ stateDir: service.stateDir, roots }),
      );
      const lines = removalLines(result);
      for (const l of lines) log.info(`Remove workspace: ${l}`);
      if (result.failed.length)
        void vscode.window.showWarningMessage(`Agent Sandbox: ${removalSummary('Remove workspace', result)}`);
      else void vscode.window.showInformationMessage(`Agent Sandbox: ${lines.join('; ')}.`);
    },
    async verify() {
      await runVerify(service, log);
    },
  };
}

async function runVerify(service: SandboxService, log: vscode.LogOutputChannel): Promise<void> {
  const { runVerification, renderReportMarkdown } = await import('../verify/index.js');
  const plan = service.plan();
  let report;
  try {
    report = await withProgress(
      'Agent Sandbox: verifying the sandbox…',
      true,
      // the probe runs in a fresh temp workspace the verifier creates and removes, never in the user's folders
      (_p, signal) =>
        runVerification({
          platform: plan.platform,
          stateDir: service.stateDir,
          policy: service.policyInput(),
          network: plan.network,
          signal,
        }),
    );
  } catch (e) {
    if (!(e instanceof SandboxError && e.code === SandboxErrorCode.Cancelled)) throw e;
    log.info('Verify: cancelled by the user; no report.');
    return;
  }
  log.info(`Verify: ${report.ok ? 'all checks passed' : 'some checks FAILED'}`);
  const doc = await vscode.workspace.openTextDocument({ content: renderReportMarkdown(report), language: 'markdown' });
  await vscode.window.showTextDocument(doc, { preview: true });
  await vscode.commands.executeCommand('markdown.showPreview', doc.uri).then(undefined, () => undefined);
  if (!report.ok)
    void vscode.window.showWarningMessage('Agent Sandbox: some verification checks failed; see the report.');
}

/**
 * The state the status bar shows: the platform lifecycle's status (Windows: "setup needed" while the elevated mode,
 * with read isolation and a real network block, is not set up).
 */
export async function platformStatus(service: SandboxService): Promise<BackendStatus> {
  const { lifecycleFor } = await import('../sandbox/index.js');
  return (await lifecycleFor(service.platform())).status({
    stateDir: service.stateDir,
    backend: await service.backend(),
  });
}
