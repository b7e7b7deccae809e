// Unit: the shared end-of-command logic of the Linux backend (cold and brokered). A command can report its exit
// before the caller arms the timeout: arming then must not leave a timer that later kills (or keeps the process
// alive), and an abort after the end must not kill either. Exit mapping: own code, 124 timeout, 128+N signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifetime } from '../../src/sandbox/lifetime';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a command that ended before arm(): no timer fires later and no kill happens', async () => {
  let kills = 0;
  const ac = new AbortController();
  const life = new Lifetime({ timeoutMs: 20, signal: ac.signal }, () => kills++);
  assert.deepEqual({ ...life.finish(0, null), durationMs: 0 }, { code: 0, timedOut: false, durationMs: 0 });
  life.arm();
  ac.abort();
  await sleep(60);
  assert.equal(kills, 0);
});

test('armed and still running: the timeout kills once and the exit is 124', async () => {
  let kills = 0;
  const life = new Lifetime({ timeoutMs: 10 }, () => kills++);
  life.arm();
  await sleep(40);
  assert.equal(kills, 1);
  life.kill();
  assert.equal(kills, 1, 'the tree kill is idempotent');
  const exit = life.finish(null, 'SIGKILL');
  assert.equal(exit.code, 124);
  assert.equal(exit.timedOut, true);
});

test('an abort kills; a signal death maps to 128+N; a finished command leaves no armed timer behind', async () => {
  let kills = 0;
  const ac = new AbortController();
  const life = new Lifetime({ timeoutMs: 30, signal: ac.signal }, () => kills++);
  life.arm();
  ac.abort();
  assert.equal(kills, 1);
  assert.equal(life.finish(null, 'SIGTERM').code, 143);
  await sleep(60);
  assert.equal(kills, 1, 'finish() cleared the timeout');
  const other = new Lifetime({}, () => kills++);
  other.arm();
  assert.equal(other.finish(3, null).code, 3);
});
