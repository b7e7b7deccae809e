/**
 * Reads `agentSandbox.*` through one typed path: VS Code's `inspect()` → trust narrowing → policy schema. Fires
 * `onDidChange` when a setting or the workspace trust changes. Shows one error naming each invalid setting.
 * Must never hand out a policy that failed validation.
 */
import * as vscode from 'vscode';
import type { PolicyInput } from '../policy';
import { SandboxError, SandboxErrorCode } from '../errors';
import { CONFIG_SECTION } from './ids';
import { effectiveSettings, ignoredWideningSettings, validateSettings, type SettingsResult } from './settings-policy';

export class SandboxSettingsReader implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  private readonly subs: vscode.Disposable[] = [];
  private cached: SettingsResult | undefined;
  private shownError: string | undefined;

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.subs.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(CONFIG_SECTION)) this.refresh();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.refresh()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
      this.emitter,
    );
  }

  workspaceFolders(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  }

  /** The validated settings, or the errors naming each invalid setting. */
  result(): SettingsResult {
    if (!this.cached) this.cached = this.read();
    return this.cached;
  }

  /** The policy input from settings; throws SandboxError (naming the settings) when they are invalid. */
  policyInput(): PolicyInput {
    const r = this.result();
    if (r.ok) return r.policy;
    throw new SandboxError(
      SandboxErrorCode.InvalidPolicy,
      `Invalid Agent Sandbox settings, so nothing was run:\n${r.errors.map((e) => `  - ${e}`).join('\n')}`,
      'Correct the setting named above in the Settings editor (search "agentSandbox").',
    );
  }

  private read(): SettingsResult {
    const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
    const inspect = (key: string) => config.inspect(key);
    const ignored = ignoredWideningSettings(inspect);
    if (ignored.length) {
      this.log.warn(
        `Ignoring workspace/folder values that would widen ${ignored.join(', ')}: only user settings may widen the sandbox`,
      );
    }
    const wf = vscode.workspace.workspaceFile;
    const result = validateSettings(
      effectiveSettings(inspect),
      this.workspaceFolders(),
      wf?.scheme === 'file' ? wf.fsPath : undefined,
    );
    this.reportErrors(result);
    return result;
  }

  private refresh(): void {
    this.cached = undefined;
    this.result();
    this.emitter.fire();
  }

  private reportErrors(result: SettingsResult): void {
    if (result.ok) {
      this.shownError = undefined;
      return;
    }
    const text = `Agent Sandbox: invalid settings; sandboxed commands will not run until fixed. ${result.errors.join(' ')}`;
    this.log.error(text);
    if (text === this.shownError) return;
    this.shownError = text;
    void vscode.window.showErrorMessage(text, 'Open Settings').then((pick) => {
      if (pick) void vscode.commands.executeCommand('workbench.action.openSettings', CONFIG_SECTION);
    });
  }

  dispose(): void {
    this.subs.forEach((s) => s.dispose());
  }
}
