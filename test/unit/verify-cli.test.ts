import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../src/cli/main';
import { SandboxError, SandboxErrorCode } from '../../src/errors';
import { runVerification } from '../../src/verify';

async function quiet<T>(f: () => Promise<T>): Promise<T> {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const log = console.log;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  console.log = () => undefined;
  try {
    return await f();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    console.log = log;
  }
}

test('cli verify: --help exits 0; bad flags are usage errors (2), never a verification result', async () => {
  assert.equal(await quiet(() => main(['verify', '--help'])), 0);
  assert.equal(await quiet(() => main(['verify', '--network', 'sometimes'])), 2);
  assert.equal(await quiet(() => main(['verify', '--bogus'])), 2);
  assert.equal(await quiet(() => main(['verify', 'extra-positional'])), 2);
});

test('runVerification refuses a full-access policy instead of "verifying" no sandbox', async () => {
  await assert.rejects(
    runVerification({
      platform: 'linux',
      stateDir: '/nonexistent/never-created',
      policy: { mode: 'full-access', allowFullAccess: true },
      network: 'offline',
    }),
    (e: unknown) => e instanceof SandboxError && e.code === SandboxErrorCode.InvalidPolicy,
  );
});
