/**
 * Restricted mode: in an untrusted workspace, the workspace's own settings try to widen the sandbox (network
 * online, an extra writable folder, no protected paths) and must not take effect; the sandbox still runs.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, outsideDir, readIfExists, workspaceDir } from './helpers';

suite('Agent Sandbox in an untrusted workspace (linux)', () => {
  test('the workspace is untrusted and its settings ask for more access', () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const settings = JSON.parse(readIfExists(path.join(workspaceDir(), '.vscode', 'settings.json')) ?? '{}') as Record<
      string,
      unknown
    >;
    assert.equal(settings['agentSandbox.network'], 'online');
  });

  test('workspace settings cannot widen: network stays offline, outside stays read-only, protected paths stay', async () => {
    const a = await api();
    assert.equal(a.status().network, 'offline');
    const outside = path.join(outsideDir(), 'untrusted-outside.txt');
    const r = await a.run(`echo ok > inside.txt; echo no > ${outside}; echo no > .vscode/planted.json; echo done`);
    assert.match(r.policy, /network offline/);
    assert.match(r.stdout, /done/, r.stderr);
    assert.equal(readIfExists(path.join(workspaceDir(), 'inside.txt'))?.trim(), 'ok');
    assert.equal(fs.existsSync(outside), false, 'extraWritableRoots from an untrusted workspace was ignored');
    assert.equal(
      fs.existsSync(path.join(workspaceDir(), '.vscode', 'planted.json')),
      false,
      'protectedPaths: [] was ignored',
    );
  });
});
