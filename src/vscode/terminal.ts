/**
 * The sandboxed terminal: a terminal profile whose shell VS Code's own pty host starts through our CLI
 * (`agent-sandbox run --policy-file F -- SHELL`), and the "Open Sandboxed Terminal" command.
 * Must never open an unsandboxed shell: if the policy is invalid the profile fails with the reason.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { policySummary } from './run-result';
import type { SandboxService } from './service';

export function userShell(): string {
  if (process.platform === 'win32') return vscode.env.shell || process.env.ComSpec || 'cmd.exe';
  return vscode.env.shell || process.env.SHELL || '/bin/sh';
}

export function sandboxedTerminalOptions(service: SandboxService, extensionUri: vscode.Uri): vscode.TerminalOptions {
  const plan = service.plan();
  const shell = userShell();
  const launch = service.cliLaunch({}, ['--tty'], [shell]);
  const icon = (name: string) => vscode.Uri.joinPath(extensionUri, 'media', name);
  service.log.info(`terminal: ${shell}  [cwd ${plan.workspaceRoots[0]}; ${policySummary(plan)}]`);
  return {
    name: `Sandboxed ${path.basename(shell)} (${plan.network})`,
    shellPath: launch.executable,
    shellArgs: launch.args,
    env: launch.env,
    cwd: plan.workspaceRoots[0],
    iconPath: { light: icon('terminal-light.svg'), dark: icon('terminal-dark.svg') },
    color: new vscode.ThemeColor(plan.network === 'offline' ? 'terminal.ansiGreen' : 'terminal.ansiYellow'),
    isTransient: true,
  };
}

export class SandboxTerminalProfileProvider implements vscode.TerminalProfileProvider {
  constructor(
    private readonly service: SandboxService,
    private readonly extensionUri: vscode.Uri,
  ) {}

  provideTerminalProfile(): vscode.TerminalProfile {
    return new vscode.TerminalProfile(sandboxedTerminalOptions(this.service, this.extensionUri));
  }
}

export function openSandboxedTerminal(service: SandboxService, extensionUri: vscode.Uri): vscode.Terminal {
  const terminal = vscode.window.createTerminal(sandboxedTerminalOptions(service, extensionUri));
  terminal.show();
  return terminal;
}
