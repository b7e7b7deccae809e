/**
 * Set Up, Verify and Remove, per platform. Linux: Set Up checks bubblewrap/Landlock through the backend's status
 * and shows the exact fix; Remove takes back the placeholders it made and deletes the extension's sandbox state.
 * Windows: the one-UAC elevated setup and its uninstall, with progress and cancel. Verify runs the self-test
 * probe and shows its report (cancellable: it then cleans up and shows no report).
 * Must never say "ready" or "verified" unless the backend or the probe said so.
 */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { SandboxError, SandboxErrorCode } from '../errors';
import type { BackendStatus } from '../sandbox/types';
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
function withProgress<T>(title: string, cancellable: boolean, fn: (p: Progress, signal: AbortSignal) => Promise<T>): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable }, (p, token) => {
    const ac = new AbortController();
    token.onCancellationRequested(() => ac.abort());
    return fn(p, ac.signal);
  });
}

async function copyableError(message: string, fix: string): Promise<void> {
  const pick = await vscode.window.showErrorMessage(`${message}\nFix: ${fix}`, 'Copy Fix');
  if (pick) await vscode.env.clipboard.writeText(fix);
}

export function platformOps(service: SandboxService, log: vscode.LogOutputChannel): PlatformOps {
  return {
    async setUp() {
      if (service.platform() === 'win32') return windowsSetUp(service, log);
      const status = await platformStatus(service);
      log.info(`Set Up: ${status.state}: ${status.summary} ${JSON.stringify(status.details)}`);
      if (status.state === 'ready') {
        void vscode.window.showInformationMessage(`Agent Sandbox is ready: ${status.summary}`);
        return;
      }
      await copyableError(`Agent Sandbox is not ready: ${status.summary}`, status.fix ?? 'See the Agent Sandbox log.');
    },
    async remove() {
      const ok = await vscode.window.showWarningMessage('Remove Agent Sandbox\'s setup and state from this machine?',
        { modal: true }, 'Remove');
      if (ok !== 'Remove') return false;
      await service.dispose();
      if (service.platform() === 'win32') await windowsRemove(service, log);
      if (service.platform() === 'linux' && !(await linuxRemove(service, log))) return false;
      fs.rmSync(service.stateDir, { recursive: true, force: true });
      log.info(`Removed sandbox state in ${service.stateDir}`);
      void vscode.window.showInformationMessage('Agent Sandbox: removed.');
      return true;
    },
    async removeWorkspace() {
      await windowsRemoveWorkspace(service, log);
    },
    async verify() {
      await runVerify(service, log);
    },
  };
}

/**
 * Windows: reverts the permissions the sandbox added for this window's workspace folders (their capability SIDs'
 * ACEs) and deletes the empty placeholders made for them, without an administrator. The next sandboxed command
 * here sets them again; Remove Windows Sandbox takes back everything.
 */
async function windowsRemoveWorkspace(service: SandboxService, log: vscode.LogOutputChannel): Promise<void> {
  if (service.platform() !== 'win32') {
    throw new SandboxError(SandboxErrorCode.UnsupportedPlatform, 'Removing one workspace\'s permissions is only needed on Windows.',
      'Use "Agent Sandbox: Remove" to take back the placeholders the sandbox made.');
  }
  const roots = service.plan().workspaceRoots;
  if (!roots.length) {
    void vscode.window.showInformationMessage('Agent Sandbox: no workspace folder is open, so there is nothing to remove.');
    return;
  }
  const ok = await vscode.window.showWarningMessage(`Remove the permissions Agent Sandbox added to ${roots.join(', ')}? ` +
    'The next sandboxed command in this workspace sets them again.', { modal: true }, 'Remove');
  if (ok !== 'Remove') return;
  await service.dispose(); // no runner may hold the workspace while its ACEs go
  const { removeWindowsWorkspace } = await import('../sandbox/windows/index.js');
  const lines: string[] = [];
  let failures = 0;
  await withProgress('Agent Sandbox: removing this workspace\'s permissions…', false, async (p) => {
    for (const root of roots) {
      p.report({ message: root });
      const r = await removeWindowsWorkspace(service.stateDir, root);
      lines.push(r.sid ? `${root}: ${r.reverted.length} permission(s) reverted, ${r.removed.length} empty placeholder(s) removed`
        : `${root}: the sandbox never changed permissions there`);
      for (const k of r.keptCreated) lines.push(`kept ${k} (created by the sandbox, but no longer empty)`);
      for (const f of r.failures) lines.push(`could not revert ${f.record.path}: ${(f.error as Error)?.message ?? String(f.error)}`);
      failures += r.failures.length;
    }
  });
  for (const l of lines) log.info(`Remove workspace: ${l}`);
  if (failures) {
    void vscode.window.showWarningMessage(`Agent Sandbox: ${failures} permission(s) could not be reverted; see the log. ` +
      'Run the command again, or "Remove Windows Sandbox".');
  } else {
    void vscode.window.showInformationMessage(`Agent Sandbox: ${lines.join('; ')}.`);
  }
}

async function runVerify(service: SandboxService, log: vscode.LogOutputChannel): Promise<void> {
  const { runVerification, renderReportMarkdown } = await import('../verify/index.js');
  const plan = service.plan();
  let report;
  try {
    report = await withProgress('Agent Sandbox: verifying the sandbox…', true,
      // the probe runs in a fresh temp workspace the verifier creates and removes, never in the user's folders
      (_p, signal) => runVerification({ platform: plan.platform, stateDir: service.stateDir, policy: service.policyInput(),
        network: plan.network, signal }),
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
  if (!report.ok) void vscode.window.showWarningMessage('Agent Sandbox: some verification checks failed; see the report.');
}

async function windowsSetUp(service: SandboxService, log: vscode.LogOutputChannel): Promise<void> {
  const { setupWindowsSandbox } = await import('../sandbox/windows/setup/index.js');
  const plan = service.plan();
  const result = await withProgress('Agent Sandbox: setting up (one administrator prompt)…', true, (p, signal) =>
    setupWindowsSandbox({
      stateDir: service.stateDir,
      workspaceRoots: plan.writableRoots,
      extensionDir: service.extensionPath,
      signal,
      onProgress: (message: string) => {
        log.info(`Set Up: ${message}`);
        p.report({ message });
      },
    }));
  await service.dispose(); // the next run loads the elevated backend
  const issues = [...result.refused.map((r) => `${r.path}: ${r.reason}`), ...result.problems];
  if (issues.length) {
    log.warn(`Set Up finished with problems:\n  ${issues.join('\n  ')}`);
    void vscode.window.showWarningMessage(`Agent Sandbox: set up, with ${issues.length} problem(s): ${issues.join('; ')}`);
  } else {
    void vscode.window.showInformationMessage('Agent Sandbox: set up.');
  }
}

async function windowsRemove(service: SandboxService, log: vscode.LogOutputChannel): Promise<void> {
  const { uninstallWindowsSandbox } = await import('../sandbox/windows/uninstall.js');
  // Reverts the unelevated permissions first (no prompt); asks for administrator rights only if setup was run.
  const result = await withProgress('Agent Sandbox: removing…', false, (p) =>
    uninstallWindowsSandbox({
      stateDir: service.stateDir,
      onProgress: (message: string) => {
        log.info(`Remove: ${message}`);
        p.report({ message });
      },
    }));
  log.info(`Remove: ${result.aclReverted} folder permission(s) reverted; administrator part ${result.elevated ? 'run' : 'not needed'}.`);
  for (const k of result.keptCreated) log.warn(`Remove: kept ${k} (created by the sandbox, but no longer empty).`);
}

/**
 * Linux: takes back the placeholders the sandbox made in workspaces (those you wrote into are kept and listed) and
 * its temp folders. False when something could not be removed: the state (and its ledger) then stays for a retry.
 */
async function linuxRemove(service: SandboxService, log: vscode.LogOutputChannel): Promise<boolean> {
  const { removeLinuxSandboxState } = await import('../sandbox/linux/uninstall.js');
  const result = removeLinuxSandboxState(service.stateDir);
  for (const p of result.removed) log.info(`Remove: removed ${p}`);
  for (const k of result.kept) log.info(`Remove: kept ${k.path}: ${k.reason}`);
  if (result.kept.length) {
    void vscode.window.showInformationMessage(`Agent Sandbox: kept ${result.kept.length} folder(s)/file(s) you wrote into: ` +
      result.kept.map((k) => k.path).join(', '));
  }
  if (!result.failed.length) return true;
  const issues = result.failed.map((f) => `${f.path}: ${f.reason}`);
  log.warn(`Remove: could not remove:\n  ${issues.join('\n  ')}`);
  void vscode.window.showWarningMessage(`Agent Sandbox: could not remove ${issues.join('; ')}. Run Remove again.`);
  return false;
}

/**
 * The state the status bar shows. Linux: the backend's status. Windows: the backend's status, but "setup needed"
 * while the elevated mode (read isolation, a real network block) is not set up.
 */
export async function platformStatus(service: SandboxService): Promise<BackendStatus> {
  const status = await (await service.backend()).status();
  if (service.platform() !== 'win32' || status.state !== 'ready') return status;
  const { windowsSandboxStatus } = await import('../sandbox/windows/setup/index.js');
  const elevated = await windowsSandboxStatus({ stateDir: service.stateDir });
  if (elevated.state === 'ready') return status;
  return { state: 'setup-needed', summary: `${status.summary} Elevated mode: ${elevated.summary}`,
    fix: elevated.fix ?? 'Run "Agent Sandbox: Set Up Windows Sandbox (requires administrator)".', details: status.details };
}
