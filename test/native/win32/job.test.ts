// Wine tier: job objects. Wine implements KILL_ON_JOB_CLOSE and TerminateJobObject faithfully, including
// grandchildren, so these are behavioural checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxFixture } from './fixture';
import { Job, UI_RESTRICTIONS_ALL } from '../../../native-bindings/win32/job';
import { Win32Error } from '../../../native-bindings/win32/errors';
import { Handle } from '../../../native-bindings/win32/handle';
import { isWine } from '../../../native-bindings/win32/wine';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

test('killing a sandboxed command kills its grandchildren too (job teardown)', async () => {
  const { ws, plan, backend } = sandboxFixture('job');
  // The child starts a grandchild that sleeps, prints the grandchild's pid, then sleeps itself.
  const script =
    'const c=require("child_process").spawn(process.execPath,["-e","setTimeout(()=>{},60000)"],{stdio:"ignore"});' +
    'process.stdout.write(String(c.pid)+"\\n");setTimeout(()=>{},60000)';
  const proc = await backend.spawn(plan, { argv: [process.execPath, '-e', script], cwd: ws, stdio: 'pipe' });
  const pid = await new Promise<number>((resolve) => {
    let buf = '';
    proc.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(Number(buf.trim()));
    });
  });
  assert.ok(alive(pid), 'grandchild is running before the kill');
  proc.kill();
  const exit = await proc.exited;
  assert.equal(exit.code, 137, 'a killed tree reports 128+9');
  assert.equal(exit.signal, 'SIGKILL');
  assert.ok(await waitFor(() => !alive(pid), 10_000), 'grandchild is gone after the job was terminated');
  await backend.dispose();
});

test('when the command exits, what it left running is killed and the exit is reported even if they hold its stdout', async () => {
  const { ws, plan, backend } = sandboxFixture('job');
  const script =
    'const c=require("child_process").spawn(process.execPath,["-e","setTimeout(()=>{},60000)"],{stdio:"inherit"});' +
    'process.stdout.write(String(c.pid));setTimeout(()=>process.exit(4),300)';
  const proc = await backend.spawn(plan, { argv: [process.execPath, '-e', script], cwd: ws, stdio: 'pipe' });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  const exit = await proc.exited;
  assert.equal(exit.code, 4);
  assert.ok(await waitFor(() => !alive(Number(out)), 10_000), 'the leftover grandchild is gone');
  await backend.dispose();
});

test('a timeout kills the tree and reports 124', async () => {
  const { ws, plan, backend } = sandboxFixture('job');
  const proc = await backend.spawn(plan, {
    argv: [process.execPath, '-e', 'setTimeout(()=>{},60000)'],
    cwd: ws,
    stdio: 'pipe',
    timeoutMs: 500,
  });
  const exit = await proc.exited;
  assert.equal(exit.code, 124);
  assert.ok(exit.timedOut);
  await backend.dispose();
});

test('a kill-on-close job kills its members when the handle closes', async () => {
  const job = Job.createKillOnClose();
  // Spawn with node, then assign: this checks kill-on-close itself, independent of our process creation.
  const { spawn } = await import('node:child_process');
  const c = spawn(process.execPath, ['-e', 'setTimeout(()=>{},60000)'], { stdio: 'ignore' });
  await new Promise((r) => c.once('spawn', r));
  const OpenProcess = (await import('../../../native-bindings/win32/lib')).lazyFn(
    'kernel32.dll',
    'void *OpenProcess(uint32 access, bool inherit, uint32 pid)',
  );
  const h = new Handle(OpenProcess(0x1fffff, false, c.pid) as bigint, 'process');
  job.assign(h);
  assert.equal(job.activeProcesses(), 1);
  const gone = new Promise((r) => c.once('exit', r));
  job.close();
  job.close();
  await gone;
  h.close();
});

test('UI restrictions can be set on a job', () => {
  const job = Job.createKillOnClose();
  try {
    job.setUiRestrictions();
  } finally {
    job.close();
  }
});

test(
  'UI restrictions read back (needs real Windows)',
  { skip: isWine() && 'Wine stubs QueryInformationJobObject(JobObjectBasicUIRestrictions)' },
  () => {
    const job = Job.createKillOnClose();
    try {
      job.setUiRestrictions(UI_RESTRICTIONS_ALL);
      assert.equal(job.uiRestrictions(), UI_RESTRICTIONS_ALL);
    } finally {
      job.close();
    }
  },
);

test('job calls on a bad handle throw Win32Error 6', () => {
  const bogus = new Handle(0x1234n, 'job');
  const job = Object.assign(Object.create(Job.prototype), { handle: bogus }) as Job;
  assert.throws(
    () => job.terminate(1),
    (e: unknown) => e instanceof Win32Error && e.api === 'TerminateJobObject' && e.code === 6,
  );
  bogus.detach();
});
