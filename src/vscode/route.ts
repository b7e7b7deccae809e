/**
 * "Route Agent Terminal Through Sandbox": points Copilot's agent terminal profile setting
 * (`chat.tools.terminal.terminalProfile.<os>`) at the sandboxed shell, remembering the previous value so the undo
 * command restores it exactly. Must never overwrite a user's own value without keeping it for undo.
 */
import * as vscode from 'vscode';
import type { SandboxService } from './service';
import { userShell } from './terminal';

const OS_KEY: Partial<Record<NodeJS.Platform, string>> = { linux: 'linux', win32: 'windows', darwin: 'osx' };
const SAVED = 'agentSandbox.routedAgentTerminal';
/** The routed terminal reads this policy file, rewritten whenever the settings change. */
const POLICY_NAME = 'agent-terminal.json';

interface Saved {
  key: string;
  previous: unknown;
}

export function agentTerminalRoute(context: vscode.ExtensionContext, service: SandboxService) {
  const settingKey = () => {
    const os = OS_KEY[process.platform];
    if (!os) throw new Error(`No agent terminal setting for ${process.platform}.`);
    return `chat.tools.terminal.terminalProfile.${os}`;
  };
  return {
    /** Keeps the routed terminal's policy in step with the settings; invalid settings remove it (fail closed). */
    refreshPolicy(): void {
      if (!context.globalState.get<Saved>(SAVED)) return;
      try {
        service.policyFile({}, POLICY_NAME);
      } catch {
        service.removePolicyFile(POLICY_NAME);
      }
    },
    async enable(): Promise<string> {
      const key = settingKey();
      const launch = service.cliLaunch({}, ['--tty'], [userShell()], POLICY_NAME);
      const config = vscode.workspace.getConfiguration();
      const firstRoute = !context.globalState.get<Saved>(SAVED);
      if (firstRoute)
        await context.globalState.update(SAVED, { key, previous: config.inspect(key)?.globalValue } satisfies Saved);
      try {
        await config.update(
          key,
          { path: launch.executable, args: launch.args, env: launch.env },
          vscode.ConfigurationTarget.Global,
        );
      } catch (e) {
        if (firstRoute) await context.globalState.update(SAVED, undefined);
        throw new Error(
          `Could not set ${key}: ${(e as Error).message} The setting belongs to GitHub Copilot Chat's ` +
            'agent terminal; install or enable Copilot Chat, then run this command again.',
          { cause: e },
        );
      }
      void vscode.window.showInformationMessage(`Agent Sandbox: the agent's terminal now runs sandboxed (${key}).`);
      return key;
    },
    /** Whether the agent terminal is routed through the sandbox now. */
    routed(): boolean {
      return !!context.globalState.get<Saved>(SAVED);
    },
    async disable(): Promise<string | undefined> {
      const saved = context.globalState.get<Saved>(SAVED);
      if (!saved) {
        void vscode.window.showInformationMessage(
          'Agent Sandbox: the agent terminal was not routed through the sandbox.',
        );
        return undefined;
      }
      await vscode.workspace.getConfiguration().update(saved.key, saved.previous, vscode.ConfigurationTarget.Global);
      await context.globalState.update(SAVED, undefined);
      void vscode.window.showInformationMessage(`Agent Sandbox: restored ${saved.key}.`);
      return saved.key;
    },
  };
}
