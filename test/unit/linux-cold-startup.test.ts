// What a cold Linux `agent-sandbox run` does not pay for (issue 15, the cold path): the allowlist proxy's code
// (Node's http and dns modules among it) loads only when a proxy is made; the runner starts without the caller's
// Node start-up options (NODE_EXTRA_CA_CERTS makes Node parse a CA bundle before anything runs); and a sandbox's
// cgroup is removed on short retries at first, since the CLI waits for that before it exits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runnerRuntime } from '../../src/sandbox/linux/runtime';
import { removalWaits } from '../../src/sandbox/linux/limits';

const OUT = path.resolve(__dirname, '../..');

/** Node's built-in modules a fresh process has loaded after running `code`. */
function builtinsAfter(code: string): string[] {
  const r = spawnSync(
    process.execPath,
    ['-e', `${code}; process.stdout.write(JSON.stringify(process.moduleLoadList))`],
    { encoding: 'utf8', cwd: OUT },
  );
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as string[]).filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13));
}

test('cold start: the Linux backend and the run command load no proxy code (no http, no dns) until a proxy is made (control: making one loads them)', () => {
  const load = `require('./src/cli/run-command'); const b = require('./src/sandbox/linux').createLinuxBackend({ stateDir: ${JSON.stringify(os.tmpdir())}, broker: false })`;
  const cold = builtinsAfter(load);
  assert.ok(cold.includes('child_process'), 'the modules were loaded at all');
  for (const m of ['http', 'dns', '_http_server']) assert.ok(!cold.includes(m), `${m} loaded by a cold run's modules`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-lazy-proxy-'));
  try {
    const made = builtinsAfter(`${load}; require('./src/network/shared').createProxy(${JSON.stringify(dir)})`);
    for (const m of ['http', 'dns']) assert.ok(made.includes(m), `control: making the proxy loads ${m}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("cold start: the runner starts with PATH only, none of the caller's Node options (NODE_EXTRA_CA_CERTS, NODE_OPTIONS)", () => {
  const saved = { ...process.env };
  try {
    process.env.NODE_EXTRA_CA_CERTS = '/etc/ssl/certs/ca-certificates.crt';
    process.env.NODE_OPTIONS = '--require /nonexistent.js';
    process.env.PATH = '/usr/bin:/bin';
    const { env } = runnerRuntime();
    assert.deepEqual(Object.keys(env).sort(), process.versions.electron ? ['ELECTRON_RUN_AS_NODE', 'PATH'] : ['PATH']);
    assert.equal(env.PATH, '/usr/bin:/bin');
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test('cold start: cgroup removal retries after 1 ms first, backing off to 20 ms, about 2 s in all', () => {
  const waits = removalWaits();
  assert.equal(waits[0], 1);
  for (let i = 1; i < waits.length; i++) assert.ok(waits[i] >= waits[i - 1], 'never shorter than the one before');
  assert.equal(Math.max(...waits), 20);
  const total = waits.reduce((a, b) => a + b, 0);
  assert.ok(total >= 2000 && total < 2100, `gives up after about 2 s (${total} ms)`);
});
