/**
 * The API other extensions get from `activate()`: `run()` runs a command in the sandbox (the same path as the
 * language-model tool), and `status()` reports whether the sandbox can run things. Must stay backward compatible.
 */
import type { RunOptions, RunResult, SandboxService } from './service';
import type { SandboxSettingsReader } from './settings';
import type { SandboxStatusBar } from './status';

export interface AgentSandboxApi {
  /** Runs `command` through the platform shell inside the sandbox. Rejects (nothing ran) if it cannot be applied. */
  run(command: string, options?: RunOptions): Promise<RunResult>;
  status(): { state: string; network?: string; settingsErrors: string[] };
}

export function createApi(
  service: SandboxService,
  settings: SandboxSettingsReader,
  bar: SandboxStatusBar,
): AgentSandboxApi {
  return {
    run: (command, options) => service.run(command, options),
    status: () => {
      const r = settings.result();
      return {
        state: bar.state,
        network: r.ok ? (r.policy.network ?? 'offline') : undefined,
        settingsErrors: r.ok ? [] : r.errors,
      };
    },
  };
}
