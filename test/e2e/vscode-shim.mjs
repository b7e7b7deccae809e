#!/usr/bin/env node
// A `vscodeExecutablePath` for @vscode/test-electron's runTests on machines that cannot download VS Code: it takes
// the arguments runTests would give VS Code (workspace, --extensionDevelopmentPath=, --extensionTestsPath=) and runs
// the suite in the offline VS Code server instead. Exit code = test result.
import { runExtensionTests } from './run-extension-tests.mjs';

const args = process.argv.slice(2);
const value = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const workspace = args.find((a) => !a.startsWith('-'));
process.exit(await runExtensionTests({ extDev: value('extensionDevelopmentPath'), testsPath: value('extensionTestsPath'), workspace }));
