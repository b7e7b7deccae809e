// Lint configuration: typescript-eslint's recommended rules, plus the layers as import rules: only native-bindings/
// imports koffi; src/policy imports nothing outside itself (but src/errors.ts); the surfaces (cli, vscode) reach
// src/sandbox only through its index; linux and windows code never import each other; backends never import the
// runner; windows/setup (one-time provisioning) never imports windows/elevated (the runtime). Dynamic import() is
// held to the same rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const KOFFI = { name: 'koffi', message: 'Only native-bindings/ may import koffi.' };

/** no-restricted-imports (static) and no-restricted-syntax (dynamic import()) for the same regex patterns. */
function layer(files, patterns) {
  const bindings = files.every((f) => f.startsWith('native-bindings/'));
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: bindings ? [] : [KOFFI], patterns: patterns.map(([regex, message]) => ({ regex, message })) },
      ],
      'no-restricted-syntax': [
        'error',
        ...patterns.map(([regex, message]) => ({
          selector: `ImportExpression[source.value=/${regex.replace(/\//g, '\\/')}/]`,
          message,
        })),
      ],
    },
  };
}

const SURFACE = [['/sandbox/(?!index(\\.js)?$).+', 'Surfaces import src/sandbox only through its index (../sandbox).']];
const NOT_WINDOWS = [['(^|/)(windows|win32)(/|$)', 'Linux code never imports Windows code.']];
const NOT_LINUX = [['(^|/)linux(/|$)', 'Windows code never imports Linux code.']];
const NOT_RUNNER = [
  ['(^|/)runner(/|$)', 'Backends never import the runner; what both need is in src/protocol or the backend.'],
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'out/**',
      'node_modules/**',
      '.wine-ci/**',
      '.vscode-test/**',
      '.e2e/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [KOFFI] }],
    },
  },
  layer(
    ['src/policy/**/*.ts'],
    [['^\\.\\./(?!errors$)', 'src/policy imports nothing outside itself but src/errors.ts.']],
  ),
  layer(['src/cli/**/*.ts', 'src/vscode/**/*.ts'], SURFACE),
  // A file gets the last matching layer's rule only (flat config replaces rule options), so each layer lists all of its own.
  layer(['src/sandbox/**/*.ts'], NOT_RUNNER),
  layer(['src/sandbox/linux/**/*.ts'], [...NOT_WINDOWS, ...NOT_RUNNER]),
  layer(['src/runner/linux/**/*.ts'], NOT_WINDOWS),
  layer(['native-bindings/linux/**/*.ts'], NOT_WINDOWS),
  layer(['src/sandbox/windows/**/*.ts'], [...NOT_LINUX, ...NOT_RUNNER]),
  layer(['src/runner/windows/**/*.ts'], NOT_LINUX),
  layer(['native-bindings/win32/**/*.ts'], NOT_LINUX),
  layer(
    ['src/sandbox/windows/setup/**/*.ts'],
    [
      ...NOT_LINUX,
      ...NOT_RUNNER,
      ['(^|/)elevated(/|$)', 'Provisioning (windows/setup) never imports the runtime (windows/elevated).'],
    ],
  ),
);
