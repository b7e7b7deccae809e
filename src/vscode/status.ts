/**
 * The status bar item: sandbox state (ready / setup needed / unsupported / settings invalid) and network mode.
 * Clicking opens the command menu. The backend status is checked off the activation path.
 * Must never show "ready" unless the backend reported ready.
 */
import * as vscode from 'vscode';
import { SandboxError } from '../errors';
import type { BackendStatus } from '../sandbox';
import { Command } from './ids';
import { expandDomains } from '../policy/domains';
import { platformStatus } from './platform-ops';
import type { SandboxService } from './service';
import type { SandboxSettingsReader } from './settings';

export type StatusState = BackendStatus['state'] | 'invalid-settings' | 'checking';

export class SandboxStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('agentSandbox.status', vscode.StatusBarAlignment.Left, 10);
  private backendStatus: BackendStatus | undefined;
  private sub: vscode.Disposable;
  state: StatusState = 'checking';

  constructor(
    private readonly service: SandboxService,
    private readonly settings: SandboxSettingsReader,
  ) {
    this.item.name = 'Agent Sandbox';
    this.item.command = Command.ShowMenu;
    this.sub = settings.onDidChange(() => this.render());
    this.render();
    this.item.show();
  }

  /** Asks the backend for its status (loads it) and redraws. */
  async refresh(): Promise<void> {
    try {
      this.backendStatus = await platformStatus(this.service);
    } catch (e) {
      this.backendStatus = {
        state: 'unsupported',
        summary: e instanceof SandboxError ? e.message : String(e),
        fix: e instanceof SandboxError ? e.fix : undefined,
        details: {},
      };
    }
    this.render();
  }

  private render(): void {
    const settings = this.settings.result();
    const network = !settings.ok
      ? ''
      : settings.policy.network === 'allowlist'
        ? `allowlist (${expandDomains(settings.policy.allowedDomains ?? []).length} domains)`
        : (settings.policy.network ?? 'offline');
    const b = this.backendStatus;
    this.state = !settings.ok ? 'invalid-settings' : b ? b.state : 'checking';
    const [icon, label, bg] = {
      ready: ['$(shield)', `Sandbox: ${network}`, undefined],
      'setup-needed': ['$(warning)', 'Sandbox: setup needed', 'statusBarItem.warningBackground'],
      unsupported: ['$(circle-slash)', 'Sandbox: unsupported', 'statusBarItem.errorBackground'],
      'invalid-settings': ['$(error)', 'Sandbox: invalid settings', 'statusBarItem.errorBackground'],
      checking: ['$(loading~spin)', `Sandbox: ${network}`, undefined],
    }[this.state];
    this.item.text = `${icon} ${label}`;
    this.item.backgroundColor = bg ? new vscode.ThemeColor(bg) : undefined;
    const tip = new vscode.MarkdownString(
      `**Agent Sandbox** — ${this.state}` +
        (settings.ok ? `, network ${network}` : `\n\n${settings.errors.join('\n\n')}`) +
        (b ? `\n\n${b.summary}${b.fix ? `\n\nFix: ${b.fix}` : ''}` : '') +
        '\n\nClick for commands.',
    );
    this.item.tooltip = tip;
  }

  dispose(): void {
    this.sub.dispose();
    this.item.dispose();
  }
}
