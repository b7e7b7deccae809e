/**
 * The extension's one way to run things sandboxed: compiles the policy from settings (plus per-request
 * overrides), loads the platform backend on first use, runs commands with capped output and explained denials,
 * logs each run, and describes how a terminal or task starts the CLI under the same policy.
 * Must never run a command when the policy or the sandbox cannot be applied: errors propagate, nothing falls back.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type * as vscode from 'vscode';
import { compilePlan, type Plan, type PolicyInput } from '../policy';
import { hostContext, hostPlatform, watchNestedGit, weakerThanAsked, type SandboxBackend } from '../sandbox';
import { SandboxError, SandboxErrorCode } from '../errors';
import { explainDenials } from './denials';
import { checkedModeOverride } from './overrides';
import { BoundedText } from './output-cap';
import { ProgressRelay } from './progress-relay';
import { policySummary, toolGrantHint, type RunResult } from './run-result';
import type { NetworkDenial } from '../network/proxy';
import { denialLine, uniqueDenials } from '../network/denial-text';
import type { SandboxSettingsReader } from './settings';

/** Per-request changes to the settings' policy (tool input, task definition, API caller). */
export interface PolicyOverrides {
  network?: 'offline' | 'allowlist' | 'online';
  mode?: 'read-only' | 'workspace-write';
  writablePaths?: string[];
  protectedPaths?: string[];
}

export interface RunOptions extends PolicyOverrides {
  /** Allowlist mode: hosts granted to this command only (confirmed by the user). */
  allowDomains?: string[];
  /** Working directory; default the first workspace folder. */
  cwd?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Characters kept per stream (head and tail). Default 200 000. */
  maxOutputChars?: number;
}

export type { RunResult };

/** How to start the CLI (`dist/cli.js`) under VS Code's own runtime. */
export interface CliLaunch {
  executable: string;
  args: string[];
  env: Record<string, string>;
}

/** Output can still be in flight when the exit is reported; wait for both streams to end (bounded). */
async function drained(streams: (Readable | null)[], capMs = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((r) => (timer = setTimeout(r, capMs)));
  const ends = Promise.all(streams.map((s) => (s ? finished(s).catch(() => undefined) : undefined)));
  await Promise.race([ends, cap]);
  clearTimeout(timer);
}

export function shellArgv(platform: Plan['platform'], command: string): string[] {
  return platform === 'win32' ? ['cmd.exe', '/d', '/s', '/c', command] : ['/bin/sh', '-c', command];
}

export class SandboxService {
  private backendP: Promise<SandboxBackend> | undefined;
  private readonly progress: ProgressRelay;
  /** Hosts the user allowed for this window's session (allowlist mode); part of every plan until the window closes. */
  private readonly sessionGrants = new Set<string>();
  private readonly blockedEmitter = new Set<(command: string, blocked: NetworkDenial[]) => void>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly settings: SandboxSettingsReader,
    readonly log: vscode.LogOutputChannel,
  ) {
    this.progress = new ProgressRelay('Agent Sandbox: preparing the workspace', log);
  }

  get extensionPath(): string {
    return this.context.extensionPath;
  }

  get stateDir(): string {
    return this.context.globalStorageUri.fsPath;
  }

  platform(): Plan['platform'] {
    const p = hostPlatform();
    if (!p) {
      throw new SandboxError(
        SandboxErrorCode.UnsupportedPlatform,
        `Agent Sandbox does not support ${process.platform} yet.`,
        'Use Linux or Windows.',
      );
    }
    return p;
  }

  /** Settings plus overrides, as policy input (validated later by compilePlan). */
  policyInput(o: PolicyOverrides = {}): PolicyInput {
    const base = this.settings.policyInput();
    const input: PolicyInput = { ...base };
    if (o.network) input.network = o.network;
    const mode = checkedModeOverride(o.mode);
    if (mode) input.mode = mode;
    if (o.writablePaths?.length) input.writableRoots = [...(base.writableRoots ?? []), ...o.writablePaths];
    if (o.protectedPaths?.length) input.protectedPaths = [...(base.protectedPaths ?? []), ...o.protectedPaths];
    if (this.sessionGrants.size)
      input.allowedDomains = [...new Set([...(base.allowedDomains ?? []), ...this.sessionGrants])];
    return input;
  }

  /** Allows hosts for the rest of this window's session (after the user chose so). */
  grantForSession(domains: string[]): void {
    for (const d of domains) this.sessionGrants.add(d);
  }

  /** Called after a run whose connections were refused (for the notification). Returns an unsubscribe function. */
  onBlocked(f: (command: string, blocked: NetworkDenial[]) => void): () => void {
    this.blockedEmitter.add(f);
    return () => this.blockedEmitter.delete(f);
  }

  plan(o: PolicyOverrides = {}): Plan {
    fs.mkdirSync(this.stateDir, { recursive: true });
    return compilePlan(this.policyInput(o), hostContext({ platform: this.platform(), stateDir: this.stateDir }));
  }

  /** The plan a command runs with: compiled with the backend's facts (on Windows, the mode setup allows). */
  async planToRun(o: PolicyOverrides = {}): Promise<Plan> {
    const facts = await (await this.backend()).planFacts();
    fs.mkdirSync(this.stateDir, { recursive: true });
    return compilePlan(
      this.policyInput(o),
      hostContext({ platform: this.platform(), stateDir: this.stateDir, ...facts }),
    );
  }

  /** The platform backend, loaded (with its native bindings) on first use. */
  backend(): Promise<SandboxBackend> {
    this.backendP ??= (async () => {
      const t0 = Date.now();
      const { backendFor } = await import('../sandbox/index.js');
      const b = await backendFor(this.platform(), {
        stateDir: this.stateDir,
        onProgress: this.progress.report,
        preparationSignal: this.progress.signal,
      });
      this.log.info(`Loaded the ${b.platform} sandbox backend in ${Date.now() - t0} ms`);
      return b;
    })();
    this.backendP.catch(() => (this.backendP = undefined));
    return this.backendP;
  }

  async run(command: string, o: RunOptions = {}): Promise<RunResult> {
    const plan = await this.planToRun(o);
    const cwd = o.cwd ?? plan.workspaceRoots[0];
    if (!cwd)
      throw new SandboxError(
        SandboxErrorCode.InvalidPolicy,
        'No workspace folder is open and no cwd was given.',
        'Open a folder or pass cwd.',
      );
    const summary = policySummary(plan);
    this.log.info(`run: ${command}  [cwd ${cwd}; ${summary}]`);
    const limit = o.maxOutputChars ?? 200_000;
    const out = new BoundedText(limit);
    const err = new BoundedText(limit);
    try {
      const backend = await this.backend();
      const untrustedAfter = watchNestedGit(plan.writableRoots);
      const proc = await backend.spawn(plan, {
        argv: shellArgv(plan.platform, command),
        cwd,
        stdio: 'pipe',
        timeoutMs: o.timeoutMs,
        signal: o.signal,
        ...(o.allowDomains?.length ? { allowDomains: o.allowDomains } : {}),
      });
      proc.stdin?.end();
      proc.stdout?.setEncoding('utf8').on('data', (c: string) => out.push(c));
      proc.stderr?.setEncoding('utf8').on('data', (c: string) => err.push(c));
      const exit = await proc.exited;
      await drained([proc.stdout, proc.stderr]);
      const stdout = out.toString();
      const stderr = err.toString();
      const denials = [
        ...explainDenials(`${stderr}\n${stdout}`, plan),
        ...(exit.limitsHit ?? []).map((h) => `${h} (agentSandbox.maxProcesses / agentSandbox.maxMemoryMb)`),
        ...(exit.guarded ?? []),
      ];
      const weaker = weakerThanAsked(proc.enforcement, plan.warnings);
      const policy = weaker.length ? `${summary}; NOT fully enforced: ${weaker.join(' ')}` : summary;
      const blocked = uniqueDenials(proc.networkDenials?.() ?? []);
      this.log.info(
        `exit ${exit.code}${exit.timedOut ? ' (timed out)' : ''} in ${exit.durationMs} ms: ${command}` +
          (denials.length ? `\n  denials:\n${denials.map((d) => `    - ${d}`).join('\n')}` : ''),
      );
      for (const d of blocked) this.log.warn(`network: ${denialLine(d, toolGrantHint)} [${command}]`);
      if (blocked.length) this.blockedEmitter.forEach((f) => f(command, blocked));
      const untrusted = untrustedAfter();
      if (untrusted) this.log.warn(untrusted);
      return {
        exitCode: exit.code,
        stdout,
        stderr,
        durationMs: exit.durationMs,
        timedOut: exit.timedOut,
        denials,
        policy,
        ...(plan.network === 'allowlist' ? { blocked } : {}),
        ...(untrusted ? { untrusted } : {}),
      };
    } catch (e) {
      this.log.error(`not run: ${command}: ${e instanceof SandboxError ? e.describe() : String(e)}`);
      throw e;
    }
  }

  /**
   * Writes the policy to a file the CLI reads with `--policy-file`: one file per distinct policy, or the file
   * `name` rewritten in place (for launchers that outlive a settings change, like the routed agent terminal).
   */
  policyFile(o: PolicyOverrides = {}, name?: string): string {
    const json = JSON.stringify(this.policyInput(o), null, 2);
    const dir = path.join(this.stateDir, 'policies');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, name ?? `${createHash('sha256').update(json).digest('hex').slice(0, 16)}.json`);
    if (name || !fs.existsSync(file)) fs.writeFileSync(file, json);
    return file;
  }

  /** Removes a named policy file, so launchers using it fail closed (for example while settings are invalid). */
  removePolicyFile(name: string): void {
    fs.rmSync(path.join(this.stateDir, 'policies', name), { force: true });
  }

  /** `agent-sandbox run --policy-file F [extra] -- argv` under VS Code's runtime, for terminals and tasks. */
  cliLaunch(o: PolicyOverrides, extra: string[], argv: string[], policyName?: string): CliLaunch {
    this.plan(o); // validate now, so a bad policy fails here with the setting named, not inside a terminal
    return {
      executable: process.execPath,
      args: [
        path.join(this.context.extensionPath, 'dist', 'cli.js'),
        'run',
        '--policy-file',
        this.policyFile(o, policyName),
        ...extra,
        '--',
        ...argv,
      ],
      env: { ELECTRON_RUN_AS_NODE: '1', AGENT_SANDBOX_STATE_DIR: this.stateDir },
    };
  }

  async dispose(): Promise<void> {
    const b = this.backendP;
    this.backendP = undefined;
    if (b) await (await b.catch(() => undefined))?.dispose();
  }
}
