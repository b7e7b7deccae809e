// The layer rules in eslint.config.mjs catch what they are meant to (each case is an import that must be refused),
// and allow the imports the layers are built on. The tree itself is checked by `npx eslint .` in `npm test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const ROOT = path.join(__dirname, '..', '..', '..');

async function errors(file: string, code: string): Promise<string[]> {
  const [r] = await new ESLint({ cwd: ROOT }).lintText(code, { filePath: path.join(ROOT, file) });
  return r.messages
    .filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax')
    .map((m) => m.message);
}

test('layer rules refuse: policy importing a backend, a surface reaching into a backend (static or dynamic), linux and windows importing each other, a backend importing the runner, setup importing the elevated runtime', async () => {
  const refused: [string, string, RegExp][] = [
    [
      'src/policy/x.ts',
      "import { backendFor } from '../sandbox';\nexport { backendFor };",
      /src\/policy imports nothing outside itself/,
    ],
    [
      'src/cli/x.ts',
      "import { createWindowsBackend } from '../sandbox/windows';\nexport { createWindowsBackend };",
      /only through its index/,
    ],
    ['src/vscode/x.ts', "export const l = () => import('../sandbox/linux/index.js');", /only through its index/],
    [
      'src/sandbox/linux/x.ts',
      "export const w = () => import('../windows/cmdline');",
      /Linux code never imports Windows code/,
    ],
    [
      'src/runner/windows/x.ts',
      "export { applySandbox } from '../linux/apply';",
      /Windows code never imports Linux code/,
    ],
    [
      'src/sandbox/windows/setup/x.ts',
      "export { createElevatedBackend } from '../elevated/backend';",
      /never imports the runtime/,
    ],
    [
      'src/sandbox/linux/x.ts',
      "export type { ToRunner } from '../../runner/linux/apply';",
      /Backends never import the runner/,
    ],
    ['src/sandbox/x.ts', "export const r = () => import('../runner/main');", /Backends never import the runner/],
  ];
  for (const [file, code, why] of refused) {
    const found = await errors(file, code);
    assert.ok(
      found.some((m) => why.test(m)),
      `${file}: ${code}\n  got: ${found.join('; ') || 'nothing'}`,
    );
  }
});

test('layer rules allow the imports the layers are built on', async () => {
  const allowed: [string, string][] = [
    [
      'src/policy/x.ts',
      "import { SandboxError } from '../errors';\nimport type { Plan } from './plan';\nexport type P = [SandboxError, Plan];",
    ],
    [
      'src/cli/x.ts',
      "import { backendFor } from '../sandbox';\nexport const l = () => import('../sandbox/index.js');\nexport { backendFor };",
    ],
    ['src/sandbox/windows/elevated/x.ts', "export { buildSetupPlan } from '../setup/setup-plan';"],
  ];
  for (const [file, code] of allowed) assert.deepEqual(await errors(file, code), [], `${file}: ${code}`);
});
