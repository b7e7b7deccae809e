/**
 * Network allowlist grants in VS Code: the scope question when a request asks for hosts outside the allowlist
 * (this command only, this window's session, or always for this workspace), the workspace-settings write for
 * "always" (done here on the user's click, never by the agent), and at most one notification per command that
 * had connections blocked, with "Allow for this workspace…".
 */
import * as vscode from 'vscode';
import type { NetworkDenial } from '../network/proxy';
import { denialLine } from '../network/denial-text';
import { CONFIG_SECTION } from './ids';
import type { SandboxService } from './service';

export type GrantScope = 'command' | 'session' | 'workspace';

const CHOICES: { title: string; scope: GrantScope }[] = [
  { title: 'This command only', scope: 'command' },
  { title: "This window's session", scope: 'session' },
  { title: 'Always for this workspace', scope: 'workspace' },
];

/** Asks how long to allow `hosts`; undefined when the user declined (then nothing runs). */
export async function askGrantScope(hosts: string[], command: string): Promise<GrantScope | undefined> {
  const pick = await vscode.window.showWarningMessage(
    `Allow \`${command}\` to reach ${hosts.join(', ')} through the sandbox's network allowlist?`,
    {
      modal: true,
      detail:
        'The sandbox reaches only allowed hosts, through a proxy it cannot go around. "Always for this ' +
        'workspace" adds them to agentSandbox.allowedDomains in the workspace settings.',
    },
    ...CHOICES.map((c) => c.title),
  );
  return CHOICES.find((c) => c.title === pick)?.scope;
}

/** Adds hosts to the workspace's `agentSandbox.allowedDomains` (on the user's explicit choice only). */
export async function allowForWorkspace(hosts: string[]): Promise<void> {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  const current = config.inspect<string[]>('allowedDomains')?.workspaceValue ?? [];
  await config.update('allowedDomains', [...new Set([...current, ...hosts])], vscode.ConfigurationTarget.Workspace);
}

/** Applies the scope the user chose; returns the hosts to grant to this one command. */
export async function applyGrant(service: SandboxService, scope: GrantScope, hosts: string[]): Promise<string[]> {
  if (scope === 'session') service.grantForSession(hosts);
  if (scope === 'workspace') await allowForWorkspace(hosts);
  return hosts;
}

/** One notification per command with blocked hosts: what was blocked, and "Allow for this workspace…". */
export function notifyBlocked(service: SandboxService, log: vscode.LogOutputChannel): vscode.Disposable {
  const off = service.onBlocked((command, blocked) => void showBlocked(command, blocked, log));
  return { dispose: off };
}

async function showBlocked(command: string, blocked: NetworkDenial[], log: vscode.LogOutputChannel): Promise<void> {
  const grants = [...new Set(blocked.map((d) => d.grant).filter((g): g is string => !!g))];
  const text =
    blocked
      .slice(0, 3)
      .map((d) => denialLine(d, (g) => g))
      .join('; ') + (blocked.length > 3 ? `; and ${blocked.length - 3} more` : '');
  const actions = grants.length ? ['Allow for this workspace…'] : [];
  const pick = await vscode.window.showWarningMessage(`Agent Sandbox: \`${command}\`: ${text}`, ...actions);
  if (!pick) return;
  const confirm = await vscode.window.showWarningMessage(
    `Add ${grants.join(', ')} to this workspace's agentSandbox.allowedDomains?`,
    { modal: true },
    'Allow',
  );
  if (confirm !== 'Allow') return;
  await allowForWorkspace(grants);
  log.info(`network: the user allowed ${grants.join(', ')} for this workspace`);
}
