/**
 * The `sandbox` language-model tool (`#sandbox`): runs one shell command in the sandbox and returns the exit code,
 * capped stdout/stderr, the duration and any denial explained. `prepareInvocation` states what runs under which
 * policy, and asks the user to confirm (and logs that it asked) requests that go beyond the configured policy.
 * Must never widen the policy without that confirmation.
 */
import * as vscode from 'vscode';
import { SandboxError } from '../errors';
import { formatToolResult, policySummary } from './run-result';
import type { SandboxService } from './service';
import {
  addedWritableRoots,
  confirmationReasons,
  resolveToolInput,
  ungrantedDomains,
  type ToolInput,
  type ToolPolicyView,
} from './tool-input';
import { applyGrant, askGrantScope } from './network-grants';

export class SandboxTool implements vscode.LanguageModelTool<ToolInput> {
  constructor(private readonly service: SandboxService) {}

  /** The configured policy, against which a request is judged. */
  private view(): ToolPolicyView {
    const plan = this.service.plan();
    return {
      platform: plan.platform,
      workspaceRoots: plan.workspaceRoots,
      network: plan.network,
      allowedDomains: plan.allowlist?.allowed ?? [],
    };
  }

  /** What the user was asked to allow, per input: `invoke` refuses anything more (a link swapped in meanwhile). */
  private readonly confirmed = new Map<string, Set<string>>();

  /** The request, its plan, and why it needs confirmation (judged on the compiled, link-resolved roots). */
  private judge(input: unknown) {
    const view = this.view();
    const req = resolveToolInput(input, view);
    const plan = this.service.plan({ network: req.network, writablePaths: req.writablePaths });
    const hosts = ungrantedDomains(req.allowDomains, view.allowedDomains ?? []);
    const reasons = confirmationReasons(req, view, addedWritableRoots(plan, this.service.plan(), view));
    return { req, plan, reasons, hosts };
  }

  prepareInvocation(
    options: vscode.LanguageModelToolInvocationPrepareOptions<ToolInput>,
  ): vscode.PreparedToolInvocation {
    const { req, plan, reasons } = this.judge(options.input);
    this.confirmed.set(JSON.stringify(options.input), new Set(reasons));
    const invocationMessage = `Running \`${req.command}\` in the sandbox (${policySummary(plan)})`;
    if (!reasons.length) return { invocationMessage };
    this.service.log.info(`tool: asking the user to confirm \`${req.command}\` because ${reasons.join('; ')}`);
    return {
      invocationMessage,
      confirmationMessages: {
        title: 'Run a command with more access than the sandbox policy allows?',
        message: new vscode.MarkdownString(
          `\`${req.command}\` in \`${req.cwd}\`\n\nNeeds confirmation because ` +
            `${reasons.join('; ')}.\n\nPolicy for this run: ${policySummary(plan)}.`,
        ),
      },
    };
  }

  async invoke(
    options: vscode.LanguageModelToolInvocationOptions<ToolInput>,
    token: vscode.CancellationToken,
  ): Promise<vscode.LanguageModelToolResult> {
    const { req, reasons, hosts } = this.judge(options.input);
    const asked = this.confirmed.get(JSON.stringify(options.input));
    this.confirmed.delete(JSON.stringify(options.input));
    const unasked = reasons.filter((r) => !asked?.has(r));
    if (unasked.length) {
      this.service.log.warn(`tool: not run \`${req.command}\`: ${unasked.join('; ')} (not what the user confirmed)`);
      return new vscode.LanguageModelToolResult([
        new vscode.LanguageModelTextPart(
          `The command was NOT run: ${unasked.join('; ')}, which the user was not asked to allow (a path may have ` +
            'changed since). Ask again.',
        ),
      ]);
    }
    // Hosts outside the allowlist: the user confirmed the request; now they choose how long the grant lasts.
    const scope = hosts.length ? await askGrantScope(hosts, req.command) : undefined;
    if (hosts.length && !scope) {
      this.service.log.info(`tool: not run \`${req.command}\`: the user did not allow ${hosts.join(', ')}`);
      return new vscode.LanguageModelToolResult([
        new vscode.LanguageModelTextPart(
          `The command was NOT run: the user did not allow ${hosts.join(', ')}. Do not ask again for the same hosts now.`,
        ),
      ]);
    }
    if (scope) this.service.log.info(`tool: the user allowed ${hosts.join(', ')} (${scope}) for \`${req.command}\``);
    const ac = new AbortController();
    const sub = token.onCancellationRequested(() => ac.abort());
    try {
      const allowDomains = scope ? await applyGrant(this.service, scope, hosts) : [];
      const r = await this.service.run(req.command, {
        cwd: req.cwd,
        network: req.network,
        writablePaths: req.writablePaths,
        timeoutMs: req.timeoutMs,
        signal: ac.signal,
        ...(allowDomains.length ? { allowDomains } : {}),
      });
      return new vscode.LanguageModelToolResult([new vscode.LanguageModelTextPart(formatToolResult(r))]);
    } catch (e) {
      if (!(e instanceof SandboxError)) throw e;
      return new vscode.LanguageModelToolResult([
        new vscode.LanguageModelTextPart(
          `The command was NOT run: the sandbox could not be applied. ${e.describe()}\nDo not retry until the user fixes this.`,
        ),
      ]);
    } finally {
      sub.dispose();
    }
  }
}
