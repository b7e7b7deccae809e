/**
 * Task type `sandbox`: `{"type": "sandbox", "command": "npm test", "network": "offline"}` runs the command through
 * the CLI in a ProcessExecution, so problem matchers and the exit code work as for any process task. The provider
 * also offers a sandboxed variant of every `package.json` script in the workspace folders. Each task run is logged
 * (command and policy when its process starts, exit code and duration when it ends).
 * Must never run a task unsandboxed: an invalid definition or policy fails the task with the reason.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { TASK_TYPE } from './ids';
import { policySummary } from './run-result';
import { shellArgv, type PolicyOverrides, type SandboxService } from './service';

export interface SandboxTaskDefinition extends vscode.TaskDefinition {
  type: 'sandbox';
  command: string;
  args?: string[];
  cwd?: string;
  network?: 'offline' | 'allowlist' | 'online';
  mode?: 'read-only' | 'workspace-write';
  extraWritableRoots?: string[];
  protectedPaths?: string[];
}

function overrides(d: SandboxTaskDefinition): PolicyOverrides {
  return { network: d.network, mode: d.mode, writablePaths: d.extraWritableRoots, protectedPaths: d.protectedPaths };
}

export function sandboxExecution(
  service: SandboxService,
  d: SandboxTaskDefinition,
  folder?: string,
): vscode.ProcessExecution {
  if (typeof d.command !== 'string' || !d.command.trim()) throw new Error('A "sandbox" task needs a "command".');
  const platform = service.platform();
  const argv = d.args?.length ? [d.command, ...d.args] : shellArgv(platform, d.command);
  const launch = service.cliLaunch(overrides(d), [], argv);
  const cwd = d.cwd ? path.resolve(folder ?? '', d.cwd) : folder;
  return new vscode.ProcessExecution(launch.executable, launch.args, { cwd, env: launch.env });
}

function folderPath(scope: vscode.TaskScope | vscode.WorkspaceFolder | undefined): string | undefined {
  return scope && typeof scope === 'object' ? scope.uri.fsPath : vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

export class SandboxTaskProvider implements vscode.TaskProvider {
  constructor(
    private readonly service: SandboxService,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  provideTasks(): vscode.Task[] {
    const tasks: vscode.Task[] = [];
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      for (const script of packageScripts(folder.uri.fsPath)) {
        const def: SandboxTaskDefinition = { type: TASK_TYPE, command: `npm run ${script}` };
        try {
          tasks.push(this.task(def, folder, `npm: ${script}`));
        } catch (e) {
          this.log.warn(`Sandboxed npm tasks unavailable: ${String(e)}`);
          return tasks;
        }
      }
    }
    return tasks;
  }

  resolveTask(task: vscode.Task): vscode.Task {
    const def = task.definition as SandboxTaskDefinition;
    const folder = typeof task.scope === 'object' ? task.scope : undefined;
    return this.task(def, folder, task.name, task.problemMatchers);
  }

  private task(
    def: SandboxTaskDefinition,
    folder: vscode.WorkspaceFolder | undefined,
    name: string,
    matchers: string[] = [],
  ): vscode.Task {
    const exec = sandboxExecution(this.service, def, folderPath(folder));
    const t = new vscode.Task(def, folder ?? vscode.TaskScope.Workspace, name, 'sandbox', exec, matchers);
    t.detail = `sandboxed, network ${def.network ?? this.service.plan().network}: ${def.command}`;
    return t;
  }
}

/** Logs every `sandbox` task run: command and policy at start, exit code and duration at the end. */
export function logSandboxTaskRuns(service: SandboxService, log: vscode.LogOutputChannel): vscode.Disposable {
  const started = new Map<vscode.TaskExecution, number>();
  const ours = (e: vscode.TaskExecution) => e.task.definition.type === TASK_TYPE;
  return vscode.Disposable.from(
    vscode.tasks.onDidStartTaskProcess((e) => {
      if (!ours(e.execution)) return;
      started.set(e.execution, Date.now());
      const d = e.execution.task.definition as SandboxTaskDefinition;
      let policy: string;
      try {
        policy = policySummary(service.plan(overrides(d)));
      } catch (err) {
        policy = `policy not applicable: ${String(err)}`;
      }
      log.info(`task "${e.execution.task.name}" started (pid ${e.processId}): ${d.command}  [${policy}]`);
    }),
    vscode.tasks.onDidEndTaskProcess((e) => {
      if (!ours(e.execution)) return;
      const t0 = started.get(e.execution);
      started.delete(e.execution);
      const took = t0 === undefined ? '' : ` in ${Date.now() - t0} ms`;
      log.info(
        `task "${e.execution.task.name}" exit ${e.exitCode ?? 'unknown'}${took}: ${(e.execution.task.definition as SandboxTaskDefinition).command}`,
      );
    }),
  );
}

function packageScripts(folder: string): string[] {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(folder, 'package.json'), 'utf8')) as {
      scripts?: Record<string, unknown>;
    };
    return Object.keys(pkg.scripts ?? {});
  } catch {
    return [];
  }
}
