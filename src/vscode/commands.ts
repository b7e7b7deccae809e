/**
 * The "Agent Sandbox" commands: Set Up, Verify, Show Effective Policy, Remove, Open Sandboxed Terminal, Route
 * Agent Terminal Through Sandbox (and its undo), Show Log, and the status-bar menu.
 * Must never report a setup or a verification as done when it was not: failures are shown with their fix.
 */
import * as vscode from 'vscode';
import { renderPlan } from '../policy/render';
import { SandboxError } from '../errors';
import { Command } from './ids';
import { menuItems } from './menu';
import { agentTerminalRoute } from './route';
import type { SandboxService } from './service';
import { openSandboxedTerminal } from './terminal';
import { platformOps } from './platform-ops';
import type { SandboxSettingsReader } from './settings';
import type { SandboxStatusBar } from './status';

export function registerCommands(
  context: vscode.ExtensionContext,
  service: SandboxService,
  settings: SandboxSettingsReader,
  status: SandboxStatusBar,
  log: vscode.LogOutputChannel,
): void {
  const ops = platformOps(service, log);
  const route = agentTerminalRoute(context, service);
  route.refreshPolicy(); // settings may have changed while VS Code was closed
  context.subscriptions.push(settings.onDidChange(() => route.refreshPolicy()));
  const setUp = async () => {
    await ops.setUp();
    await status.refresh();
  };
  const remove = async () => {
    // the routed agent terminal would point at a policy file Remove deletes: restore the user's setting as well
    if ((await ops.remove()) && route.routed()) await route.disable();
    await status.refresh();
  };
  const handlers: Record<string, () => unknown> = {
    [Command.SetUp]: setUp,
    [Command.SetUpWindows]: setUp,
    [Command.Verify]: () => ops.verify(),
    [Command.ShowEffectivePolicy]: () => showEffectivePolicy(service),
    [Command.Remove]: remove,
    [Command.RemoveWindows]: remove,
    [Command.RemoveWorkspace]: () => ops.removeWorkspace(),
    [Command.OpenTerminal]: () => openSandboxedTerminal(service, context.extensionUri),
    [Command.RouteAgentTerminal]: () => route.enable(),
    [Command.UnrouteAgentTerminal]: () => route.disable(),
    [Command.ShowLog]: () => log.show(),
    [Command.ShowMenu]: () => showMenu(),
  };
  for (const [id, fn] of Object.entries(handlers)) {
    context.subscriptions.push(vscode.commands.registerCommand(id, () => reportErrors(id, fn, log)));
  }
}

/** Runs a command handler; a failure becomes one error notification with the fix, and is rethrown for callers. */
async function reportErrors(id: string, fn: () => unknown, log: vscode.LogOutputChannel): Promise<unknown> {
  try {
    return await fn();
  } catch (e) {
    const text = e instanceof SandboxError ? e.describe() : String((e as Error)?.message ?? e);
    log.error(`${id} failed: ${text}`);
    void vscode.window.showErrorMessage(`Agent Sandbox: ${text}`, 'Show Log').then((p) => p && log.show());
    throw e;
  }
}

async function showEffectivePolicy(service: SandboxService): Promise<vscode.TextDocument> {
  const doc = await vscode.workspace.openTextDocument({
    content: renderPlan(await service.planToRun()),
    language: 'plaintext',
  });
  await vscode.window.showTextDocument(doc, { preview: true });
  return doc;
}

async function showMenu(): Promise<void> {
  const pick = await vscode.window.showQuickPick(menuItems(process.platform), { placeHolder: 'Agent Sandbox' });
  if (pick) await vscode.commands.executeCommand(pick.id);
}
