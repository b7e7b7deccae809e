/**
 * The status-bar menu's entries, per platform: Windows shows its own Set Up / Remove (the one-time administrator
 * setup and its uninstall) and "remove this workspace"; elsewhere the generic Set Up / Remove. Labels are the
 * palette titles (package.json) with an icon. Pure, so unit tests check it against package.json.
 */
import { Command } from './ids';

export interface MenuItem {
  id: string;
  label: string;
}

export function menuItems(platform: NodeJS.Platform): MenuItem[] {
  const windows = platform === 'win32';
  return [
    { id: Command.OpenTerminal, label: '$(terminal) Open Sandboxed Terminal' },
    { id: Command.ShowEffectivePolicy, label: '$(list-tree) Show Effective Policy' },
    { id: Command.Verify, label: '$(pass) Verify' },
    windows
      ? { id: Command.SetUpWindows, label: '$(tools) Set Up Windows Sandbox (requires administrator)' }
      : { id: Command.SetUp, label: '$(tools) Set Up' },
    { id: Command.RouteAgentTerminal, label: '$(arrow-swap) Route Agent Terminal Through Sandbox' },
    { id: Command.UnrouteAgentTerminal, label: '$(discard) Stop Routing Agent Terminal Through Sandbox' },
    ...(windows
      ? [{ id: Command.RemoveWorkspace, label: '$(clear-all) Remove Sandbox Permissions From This Workspace' }]
      : []),
    windows
      ? { id: Command.RemoveWindows, label: '$(trash) Remove Windows Sandbox' }
      : { id: Command.Remove, label: '$(trash) Remove' },
    { id: Command.ShowLog, label: '$(output) Show Log' },
  ];
}
