#!/usr/bin/env node
// A `vscodeExecutablePath` for @vscode/test-electron's runTests on machines that cannot download VS Code: it takes
// the arguments runTests would give VS Code (workspace, --extensionDevelopmentPath=, --extensionTestsPath=) and runs
// the suite in the offline VS Code server instead. Exit code = test result. The web workbench loads one development
// extension, so a second or later --extensionDevelopmentPath (a test fixture) is installed into the extensions dir.
import { runExtensionTests } from './run-extension-tests.mjs';

const args = process.argv.slice(2);
const values = (name) => args.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
const [extDev, ...extraExtensions] = values('extensionDevelopmentPath');
const workspace = args.find((a) => !a.startsWith('-'));
process.exit(
  await runExtensionTests({ extDev, extraExtensions, testsPath: values('extensionTestsPath')[0], workspace }),
);
