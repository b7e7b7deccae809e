/** Mocha entry run inside the VS Code extension host (by the offline harness or @vscode/test-electron). */
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  // AGENT_SANDBOX_E2E_GREP: run only the tests whose names match (a developer's shortcut; CI runs them all)
  const grep = process.env.AGENT_SANDBOX_E2E_GREP;
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 90_000, reporter: 'spec', ...(grep ? { grep } : {}) });
  // the harness starts an untrusted window for AGENT_SANDBOX_E2E_SUITE=untrusted, a trusted one otherwise
  const suite = process.env.AGENT_SANDBOX_E2E_SUITE === 'untrusted' ? 'untrusted.test.js' : 'extension.test.js';
  mocha.addFile(path.join(__dirname, suite));
  // both runs: the trusted one has Copilot Chat's agent terminal setting (a fixture), the untrusted one has not
  mocha.addFile(path.join(__dirname, 'route.test.js'));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures ? reject(new Error(`${failures} e2e test(s) failed`)) : resolve()));
  });
}
