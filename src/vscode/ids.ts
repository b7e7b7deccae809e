/** Every identifier the extension contributes, in one place (must match package.json `contributes`). */
export const EXTENSION_ID = 'agent-sandbox.agent-sandbox';
export const CONFIG_SECTION = 'agentSandbox';
export const TERMINAL_PROFILE_ID = 'agentSandbox.shell';
export const TASK_TYPE = 'sandbox';
export const TOOL_NAME = 'agent-sandbox_run';

export const Command = {
  SetUp: 'agentSandbox.setUp',
  /** Windows' palette entries for Set Up / Remove (same handlers; the generic ones are hidden on Windows). */
  SetUpWindows: 'agentSandbox.setUpWindows',
  RemoveWindows: 'agentSandbox.removeWindows',
  /** Windows: reverts this workspace's ACEs only (`agent-sandbox uninstall --workspace`). */
  RemoveWorkspace: 'agentSandbox.removeWorkspace',
  Verify: 'agentSandbox.verify',
  ShowEffectivePolicy: 'agentSandbox.showEffectivePolicy',
  Remove: 'agentSandbox.remove',
  OpenTerminal: 'agentSandbox.openTerminal',
  RouteAgentTerminal: 'agentSandbox.routeAgentTerminal',
  UnrouteAgentTerminal: 'agentSandbox.unrouteAgentTerminal',
  ShowLog: 'agentSandbox.showLog',
  ShowMenu: 'agentSandbox.showMenu',
} as const;
