/**
 * The fast client (dist/agent-sandbox, Python) must find the broker the Node CLI left: both compute the broker key
 * from the call's inputs the same way. A difference would only send calls cold (the broker recompiles the plan and
 * checks its hash), but then the fast path would silently never be taken. Compared over a table of option and
 * environment cases, each key computed by the real Python code and by `inputKey`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { inputKey } from '../../src/protocol/warm';

const REPO = path.resolve(__dirname, '..', '..', '..');
const FAST = path.join(REPO, 'dist', 'agent-sandbox');
const PYTHON = '/usr/bin/python3';
const LOAD = `
import sys, json, importlib.machinery, importlib.util
loader = importlib.machinery.SourceFileLoader('fast_client', sys.argv[1])
module = importlib.util.module_from_spec(importlib.util.spec_from_loader('fast_client', loader))
loader.exec_module(module)
print(module.input_key(json.loads(sys.argv[2]), sys.argv[3].encode()))
`;

test(
  'the fast client computes the same broker key as the Node CLI, case by case',
  { skip: (process.platform !== 'linux' || !fs.existsSync(PYTHON) || !fs.existsSync(FAST)) && 'Linux with python3' },
  () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'as-key-'));
    try {
      fs.writeFileSync(path.join(cwd, 'policy.json'), '{}');
      const base: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', HOME: '/home/someone' };
      const cases: [string, string[], NodeJS.ProcessEnv][] = [
        ['no options', [], base],
        ['a network mode', ['--network', 'online'], base],
        ['an absolute workspace (cwd-free)', ['--workspace', cwd], base],
        ['a relative workspace', ['--workspace', 'sub'], base],
        ['an extra writable folder', ['--workspace', cwd, '--write', '/var/tmp/x'], base],
        ['a relative --write with a trailing slash', ['--write', 'out//'], base],
        ['a policy file', ['--policy-file', 'policy.json'], base],
        ['a missing policy file', ['--policy-file', 'nope.json'], base],
        ['a non-ASCII path', ['--write', 'dossier-é'], base],
        ['an empty variable', [], { ...base, TMPDIR: '' }],
        ['a set variable', [], { ...base, XDG_RUNTIME_DIR: '/run/user/1000', SSH_AUTH_SOCK: '/tmp/agent' }],
        ['no HOME', [], { PATH: '/usr/bin:/bin' }],
      ];
      for (const [name, policy, env] of cases) {
        const py = spawnSync(PYTHON, ['-I', '-S', '-c', LOAD, FAST, JSON.stringify(policy), cwd], {
          cwd,
          env,
          encoding: 'utf8',
        });
        assert.equal(py.status, 0, `${name}: ${py.stderr}`);
        const node = inputKey(policy, cwd, env, path.join(REPO, 'dist', 'cli-main.js'));
        assert.equal(py.stdout.trim(), node, name);
      }
      // Control: the key does follow its inputs (another policy, another variable, another cwd).
      const k = (p: string[], env: NodeJS.ProcessEnv, dir = cwd) =>
        inputKey(p, dir, env, path.join(REPO, 'dist', 'cli-main.js'));
      assert.notEqual(k([], base), k(['--network', 'online'], base));
      assert.notEqual(k([], base), k([], { ...base, HOME: '/home/other' }));
      assert.notEqual(k([], base), k([], base, os.tmpdir()));
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  },
);
