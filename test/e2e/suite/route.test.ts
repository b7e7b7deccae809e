/**
 * "Route Agent Terminal Through Sandbox" in a real extension host. VS Code 1.100 without Copilot Chat does not
 * register `chat.tools.terminal.terminalProfile.<os>`; the trusted run installs test/e2e/fixtures/agent-terminal-setting
 * (that setting only, no code) to test the success path, the untrusted run leaves it out to test the clear failure.
 * AGENT_SANDBOX_E2E_AGENT_SETTING (set by run-test-electron.mjs) says which run this is, so neither can pass vacuously.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EXTENSION_ID, outsideDir, readIfExists, waitFor, workspaceDir } from './helpers';

const KEY = 'chat.tools.terminal.terminalProfile.linux';
const FIXTURE_ID = 'agent-sandbox-e2e.agent-terminal-setting';
const ROUTE = 'agentSandbox.routeAgentTerminal';
const UNROUTE = 'agentSandbox.unrouteAgentTerminal';

interface Profile {
  path: string;
  args: string[];
  env: Record<string, string>;
}

const config = () => vscode.workspace.getConfiguration();
const userValue = () => config().inspect(KEY)?.globalValue;

function policyFileOf(p: Profile): string {
  const i = p.args.indexOf('--policy-file');
  assert.ok(i > 0 && p.args[i + 1], `--policy-file in ${JSON.stringify(p.args)}`);
  return p.args[i + 1];
}

async function routed(): Promise<Profile> {
  await vscode.commands.executeCommand(ROUTE);
  const v = userValue() as Profile | undefined;
  assert.ok(v && typeof v.path === 'string', `${KEY} after routing: ${JSON.stringify(v)}`);
  return v;
}

/** A terminal started the way the agent's run-in-terminal tool starts one from the profile object. */
async function terminalFrom(p: Profile, name: string): Promise<vscode.Terminal> {
  const opened = new Promise<vscode.Terminal>((r) => {
    const sub = vscode.window.onDidOpenTerminal((t) => {
      if (t.name !== name) return;
      sub.dispose();
      r(t);
    });
  });
  vscode.window.createTerminal({ name, shellPath: p.path, shellArgs: p.args, env: p.env, cwd: workspaceDir() });
  return opened;
}

const registered = process.env.AGENT_SANDBOX_E2E_AGENT_SETTING === 'registered';

(registered ? suite : suite.skip)(
  'Route Agent Terminal with the agent terminal setting registered (e2e fixture)',
  () => {
    suiteSetup(() => {
      assert.ok(vscode.extensions.getExtension(FIXTURE_ID), `${FIXTURE_ID} must be installed in this run`);
    });

    teardown(async () => {
      await vscode.commands.executeCommand(UNROUTE);
      await config().update(KEY, undefined, vscode.ConfigurationTarget.Global);
    });

    test('route sets the setting to our CLI running the user shell under the workspace policy; twice is idempotent; unroute restores the previous value exactly', async () => {
      const previous = { path: '/bin/bash', args: ['--login'], env: { E2E_PREVIOUS: 'kept' } };
      await config().update(KEY, previous, vscode.ConfigurationTarget.Global);
      const ext = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(ext);

      const first = await routed();
      assert.equal(first.path, process.execPath);
      assert.deepEqual(first.args.slice(0, 2), [path.join(ext.extensionPath, 'dist', 'cli.js'), 'run']);
      assert.ok(first.args.includes('--tty'), JSON.stringify(first.args));
      const shell = first.args.slice(first.args.indexOf('--') + 1);
      assert.equal(shell.length, 1, `one shell after --: ${JSON.stringify(shell)}`);
      assert.equal(first.env.ELECTRON_RUN_AS_NODE, '1');
      const policy = JSON.parse(readIfExists(policyFileOf(first)) ?? 'null') as {
        network?: string;
        workspaceRoots?: string[];
      } | null;
      assert.ok(policy, 'the policy file exists');
      assert.equal(policy.network, 'offline');
      assert.deepEqual(policy.workspaceRoots, [workspaceDir()]);

      const second = await routed();
      assert.deepEqual(second, first, 'routing again changes nothing');

      await vscode.commands.executeCommand(UNROUTE);
      assert.deepEqual(userValue(), previous, 'the previous custom value is back, not our profile');
      await vscode.commands.executeCommand(UNROUTE);
      assert.deepEqual(userValue(), previous, 'a second undo leaves it alone');
    });

    test('a terminal started from the routed profile is sandboxed: writing inside the workspace works, outside fails', async () => {
      assert.equal(userValue(), undefined, 'no user value before routing');
      const profile = await routed();
      const ws = workspaceDir();
      const outside = path.join(outsideDir(), 'routed-outside.txt');
      const done = path.join(ws, 'routed-done.txt');
      const term = await terminalFrom(profile, 'e2e routed agent terminal');
      term.sendText(
        `echo inside > routed-inside.txt; { echo outside > ${outside}; } 2> routed-err.txt; echo "rc=$?" > ${done}`,
      );
      const rc = await waitFor('the routed terminal command to finish', () => readIfExists(done), 45_000);
      term.dispose();
      assert.equal(readIfExists(path.join(ws, 'routed-inside.txt'))?.trim(), 'inside');
      assert.equal(fs.existsSync(outside), false, 'the write outside the workspace did not happen');
      assert.notEqual(rc.trim(), 'rc=0');
      assert.match(readIfExists(path.join(ws, 'routed-err.txt')) ?? '', /read-only file system|permission denied/i);
      await vscode.commands.executeCommand(UNROUTE);
      assert.equal(userValue(), undefined, 'undo removes the value again when there was none');
    });

    test('the routed policy follows settings changes; while settings are invalid it is removed and the routed shell does not start', async () => {
      const profile = await routed();
      const file = policyFileOf(profile);
      const network = () => (JSON.parse(readIfExists(file) ?? '{}') as { network?: string }).network;
      const sandbox = vscode.workspace.getConfiguration('agentSandbox');
      try {
        await sandbox.update('network', 'online', vscode.ConfigurationTarget.Global); // only user settings widen
        await waitFor('the routed policy to say online', () => (network() === 'online' ? true : undefined));
        await sandbox.update('network', 'sometimes', vscode.ConfigurationTarget.Global);
        await waitFor('the routed policy file to be removed', () => (fs.existsSync(file) ? undefined : true));
        const term = await terminalFrom(profile, 'e2e routed terminal, invalid settings');
        const exit = await waitFor('the routed shell to refuse to start', () => term.exitStatus, 30_000);
        term.dispose();
        assert.notEqual(exit.code, 0, 'the CLI exits with an error instead of starting the shell unsandboxed');
      } finally {
        await sandbox.update('network', undefined, vscode.ConfigurationTarget.Global);
      }
      await waitFor('the routed policy to be offline again', () => (network() === 'offline' ? true : undefined));
    });
  },
);

(registered ? suite.skip : suite)(
  'Route Agent Terminal without the agent terminal setting (VS Code 1.100, no Copilot Chat)',
  () => {
    test('route fails with an error naming the setting and Copilot Chat, and changes nothing; unroute is a no-op', async () => {
      assert.equal(vscode.extensions.getExtension(FIXTURE_ID), undefined, 'the fixture is not installed in this run');
      const before = userValue();
      await assert.rejects(Promise.resolve(vscode.commands.executeCommand(ROUTE)), (e: Error) =>
        new RegExp(`${KEY.replace(/\./g, '\\.')}.*Copilot Chat`, 's').test(e.message),
      );
      assert.deepEqual(userValue(), before);
      await vscode.commands.executeCommand(UNROUTE);
      assert.deepEqual(userValue(), before);
    });
  },
);
