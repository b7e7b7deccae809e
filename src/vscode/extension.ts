/**
 * Extension entry point. Activation is cheap: it registers providers and commands; backends and koffi load on
 * first use (a run, a status check shortly after startup). Every disposable goes into `context.subscriptions`.
 */
import * as vscode from 'vscode';
import { writeActivationRecord } from './activation-log';
import { createApi, type AgentSandboxApi } from './api';
import { registerCommands } from './commands';
import { TASK_TYPE, TERMINAL_PROFILE_ID, TOOL_NAME } from './ids';
import { SandboxService } from './service';
import { SandboxSettingsReader } from './settings';
import { SandboxStatusBar } from './status';
import { logSandboxTaskRuns, SandboxTaskProvider } from './tasks';
import { SandboxTerminalProfileProvider } from './terminal';
import { SandboxTool } from './tool';
import { notifyBlocked } from './network-grants';

let service: SandboxService | undefined;

export function activate(context: vscode.ExtensionContext): AgentSandboxApi {
  const t0 = performance.now();
  const log = vscode.window.createOutputChannel('Agent Sandbox', { log: true });
  const settings = new SandboxSettingsReader(log);
  service = new SandboxService(context, settings, log);
  const bar = new SandboxStatusBar(service, settings);
  context.subscriptions.push(
    log,
    settings,
    bar,
    vscode.window.registerTerminalProfileProvider(
      TERMINAL_PROFILE_ID,
      new SandboxTerminalProfileProvider(service, context.extensionUri),
    ),
    vscode.tasks.registerTaskProvider(TASK_TYPE, new SandboxTaskProvider(service, log)),
    logSandboxTaskRuns(service, log),
    vscode.lm.registerTool(TOOL_NAME, new SandboxTool(service)),
    notifyBlocked(service, log),
  );
  registerCommands(context, service, settings, bar, log);
  const timer = setTimeout(() => void bar.refresh(), 1500);
  context.subscriptions.push({ dispose: () => clearTimeout(timer) });

  const activationMs = performance.now() - t0;
  log.info(`Activated in ${activationMs.toFixed(1)} ms`);
  const problem = writeActivationRecord({
    activationMs,
    at: new Date().toISOString(),
    vscodeVersion: vscode.version,
  });
  if (problem) log.warn(`Activation record: ${problem}`);
  return createApi(service, settings, bar);
}

export async function deactivate(): Promise<void> {
  await service?.dispose();
  service = undefined;
}
