/** Helpers for the extension-host suite: the fixture's paths, polling, and the extension's API. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AgentSandboxApi } from '../../../src/vscode/api';

export const EXTENSION_ID = 'agent-sandbox.agent-sandbox';

export function workspaceDir(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  if (!f) throw new Error('the e2e run must open the fixture workspace');
  return f.uri.fsPath;
}

/** A folder next to the workspace: readable, writable by the test itself, outside every sandbox root. */
export function outsideDir(): string {
  return path.join(path.dirname(workspaceDir()), 'outside');
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export async function api(): Promise<AgentSandboxApi> {
  const ext = vscode.extensions.getExtension<AgentSandboxApi>(EXTENSION_ID);
  if (!ext) throw new Error(`${EXTENSION_ID} is not installed in this extension host`);
  return ext.activate();
}

export function toolText(result: vscode.LanguageModelToolResult): string {
  return result.content.map((p) => (p instanceof vscode.LanguageModelTextPart ? p.value : '')).join('');
}

/**
 * The extension's "Agent Sandbox" LogOutputChannel file, found under the harness's run folder (the folder of
 * AGENT_SANDBOX_ACTIVATION_LOG); undefined when the suite runs outside the offline harness.
 */
export function extensionLogFile(): string | undefined {
  const record = process.env.AGENT_SANDBOX_ACTIVATION_LOG;
  if (!record) return undefined;
  const logs = path.join(path.dirname(record), 'user-data', 'logs');
  const hit = fs
    .readdirSync(logs, { recursive: true, encoding: 'utf8' })
    .find((f) => f.endsWith(path.join(EXTENSION_ID, 'Agent Sandbox.log')));
  return hit && path.join(logs, hit);
}
