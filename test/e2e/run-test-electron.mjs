// The @vscode/test-electron entry: runTests() with the offline shim by default, or with a downloaded VS Code when
// AGENT_SANDBOX_E2E_DOWNLOAD=1 (machines that can reach update.code.visualstudio.com).
// Usage: node test/e2e/run-test-electron.mjs <workspace>
import path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { ROOT } from './harness.mjs';

const workspace = path.resolve(process.argv[2]);
try {
  await runTests({
    extensionDevelopmentPath: ROOT,
    extensionTestsPath: path.join(ROOT, 'out/test/e2e/suite/index.js'),
    launchArgs: [workspace],
    extensionTestsEnv: { AGENT_SANDBOX_E2E_WORKSPACE: workspace },
    ...(process.env.AGENT_SANDBOX_E2E_DOWNLOAD === '1' ? { version: '1.100.3' } : { vscodeExecutablePath: path.join(ROOT, 'test/e2e/vscode-shim.mjs') }),
  });
} catch (e) {
  console.error(`extension tests failed: ${e?.message ?? e}`);
  process.exit(1);
}
