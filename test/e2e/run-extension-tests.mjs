// Runs the mocha suite (test/e2e/suite, compiled to out/) inside the real VS Code extension host: the suite's
// run() executes there, its console comes back through codeAutomationLog, and its result is our exit code.
// Usage: node run-extension-tests.mjs <extensionDevelopmentPath> <extensionTestsPath> <workspace>
import path from 'node:path';
import util from 'node:util';
import { freshWork, openBrowser, startServer, ts, workbenchUrl } from './harness.mjs';

/** `extDev` is loaded as the extension under development; `extraExtensions` are installed beside it. */
export async function runExtensionTests({
  extDev,
  extraExtensions = [],
  testsPath,
  workspace,
  timeoutMs = Number(process.env.TEST_TIMEOUT_MS || 480000),
}) {
  const work = freshWork('ext-tests');
  // AGENT_SANDBOX_E2E_SUITE=untrusted: workspace trust on, the folder untrusted, and only the restricted-mode tests
  const untrusted = process.env.AGENT_SANDBOX_E2E_SUITE === 'untrusted';
  const { port, stop } = await startServer({
    work,
    trust: untrusted,
    extensions: extraExtensions,
    extraEnv: { AGENT_SANDBOX_ACTIVATION_LOG: path.join(work, 'activation.json') },
  });
  console.log(`${ts()} VS Code server on ${port} (logs in ${work})`);
  const { browser, page } = await openBrowser();
  let finish;
  const exited = new Promise((r) => (finish = r));
  await page.exposeFunction('codeAutomationLog', (_type, args) => console.log(util.format(...args)));
  await page.exposeFunction('codeAutomationExit', (code) => finish(code));
  await page.goto(workbenchUrl(port, workspace, extDev, testsPath));
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), timeoutMs))]);
  if (code !== 0) {
    await page.screenshot({ path: path.join(work, 'failure.png') }).catch(() => {});
    console.error(`${ts()} extension tests failed (${code}); logs and screenshot in ${work}`);
  }
  console.log(`${ts()} extension tests exit code: ${code}`);
  await browser.close().catch(() => {});
  stop();
  return code === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [extDev, testsPath, workspace] = process.argv.slice(2);
  process.exit(await runExtensionTests({ extDev, testsPath, workspace }));
}
