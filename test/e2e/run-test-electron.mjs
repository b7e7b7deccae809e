// The @vscode/test-electron entry: runTests() with the offline shim by default, or with a downloaded VS Code when
// AGENT_SANDBOX_E2E_DOWNLOAD=1 (machines that can reach update.code.visualstudio.com).
// The trusted suite also loads test/e2e/fixtures/agent-terminal-setting (registers Copilot Chat's agent terminal
// profile setting, which VS Code 1.100 lacks) so Route Agent Terminal's success path is tested; the untrusted suite
// runs without it and tests the clear failure. AGENT_SANDBOX_E2E_AGENT_SETTING tells the suite which to expect.
// Usage: node test/e2e/run-test-electron.mjs <workspace>
import path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { ROOT } from './harness.mjs';

const workspace = path.resolve(process.argv[2]);
const agentSetting = process.env.AGENT_SANDBOX_E2E_SUITE === 'untrusted' ? 'absent' : 'registered';
const fixture = path.join(ROOT, 'test/e2e/fixtures/agent-terminal-setting');
try {
  await runTests({
    extensionDevelopmentPath: agentSetting === 'registered' ? [ROOT, fixture] : ROOT,
    extensionTestsPath: path.join(ROOT, 'out/test/e2e/suite/index.js'),
    launchArgs: [workspace],
    extensionTestsEnv: { AGENT_SANDBOX_E2E_WORKSPACE: workspace, AGENT_SANDBOX_E2E_AGENT_SETTING: agentSetting },
    ...(process.env.AGENT_SANDBOX_E2E_DOWNLOAD === '1'
      ? { version: '1.100.3' }
      : { vscodeExecutablePath: path.join(ROOT, 'test/e2e/vscode-shim.mjs') }),
  });
} catch (e) {
  console.error(`extension tests failed: ${e?.message ?? e}`);
  process.exit(1);
}
