/**
 * Linux sandbox, host sockets hidden by default (issue 12 §2), judged by what a listener on the host received:
 * a socket in a /run folder that no list names (as GNU screen's /run/screen), and a socket listening in the home
 * folder (as git's credential cache), are unreachable offline and online; a hidden socket re-created while a
 * sandbox runs (a restarted daemon) stops the sandbox. Controls: the same plan without the hiding (or without the
 * guard, or without hiding at launch a socket that began listening after planning) reaches the listener. A socket that starts listening
 * after a broker started retires it, so later brokered commands cannot reach it (control: without that re-check).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { LinuxPlan } from '../../../src/policy';
import { MountGuard } from '../../../src/sandbox/linux/guard';
import * as hostSockets from '../../../src/sandbox/linux/host-sockets';
import { Broker } from '../../../src/sandbox/linux/broker';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { coldBackend, hostDir, NODE, plan, run, STATE_DIR, tempDir } from './helpers';

const backend = coldBackend();
after(() => backend.dispose());

/** Prints UNIX OK when it got the server's greeting, UNIX ERR code otherwise; `tries` attempts 20 ms apart. */
const CLIENT = `
const [where, tries = '1'] = process.argv.slice(1);
let left = Number(tries);
const attempt = () => {
  const s = require('net').connect(where);
  s.on('data', () => { console.log('UNIX OK'); s.destroy(); process.exit(0); });
  s.on('error', (e) => { if (--left > 0) setTimeout(attempt, 20); else console.log('UNIX ERR ' + e.code); });
};
attempt();`;

interface Listener {
  hits: () => number;
  close: () => Promise<void>;
}

async function listen(where: string): Promise<Listener> {
  let hits = 0;
  const srv = net.createServer((s) => {
    hits++;
    s.end('hello');
  });
  await new Promise<void>((r) => srv.listen(where, r));
  return { hits: () => hits, close: () => new Promise((r) => srv.close(() => r())) };
}

function unhidden(p: LinuxPlan, dir: string): LinuxPlan {
  const args: string[] = [];
  for (let i = 0; i < p.bwrapArgs.length; i++) {
    if ((p.bwrapArgs[i] === '--tmpfs' || p.bwrapArgs[i] === '--remount-ro') && p.bwrapArgs[i + 1] === dir) {
      i++;
      continue;
    }
    if (p.bwrapArgs[i] === '--ro-bind' && p.bwrapArgs[i + 1] === '/dev/null' && p.bwrapArgs[i + 2] === dir) {
      i += 2;
      continue;
    }
    args.push(p.bwrapArgs[i]);
  }
  return { ...p, bwrapArgs: args };
}

/** Turns the guard's watch of newly listening host sockets off (`on` false), for a control; `restore` undoes it. */
function socketWatch(on: boolean): { restore: () => void } {
  const proto = MountGuard.prototype as unknown as { newSocket: () => string | undefined };
  const original = proto.newSocket;
  if (!on) proto.newSocket = () => undefined;
  return { restore: () => (proto.newSocket = original) };
}

/**
 * Turns off the hiding at launch of sockets that started listening after the plan was made (`on` false), for a
 * control: the guard's baseline then holds a socket the sandbox can reach.
 */
function launchHiding(on: boolean): { restore: () => void } {
  const mod = hostSockets as { hideSocketArgs: (s: Iterable<string>) => string[] };
  const original = mod.hideSocketArgs;
  if (!on) mod.hideSocketArgs = () => [];
  return { restore: () => (mod.hideSocketArgs = original) };
}

describe('linux sandbox: host sockets hidden by default', () => {
  for (const network of ['offline', 'online'] as const) {
    it(`${network}: a socket in a /run folder no list names (as /run/screen) is unreachable (control: the same plan without the /run tmpfs reaches it)`, async (t) => {
      const dir = `/run/agent-sandbox-test-${process.pid}`;
      try {
        fs.mkdirSync(dir);
      } catch {
        return t.skip('needs /run writable (run as root, as CI does)');
      }
      const l = await listen(path.join(dir, 'S-dev.sock'));
      try {
        const ws = tempDir('as-run-');
        const p = plan({ workspaceRoots: [ws], network });
        const r = await run(backend, p, [NODE, '-e', CLIENT, path.join(dir, 'S-dev.sock')]);
        assert.match(r.stdout, /UNIX ERR/, r.stderr);
        assert.equal(l.hits(), 0);
        const c = await run(backend, unhidden(p, '/run'), [NODE, '-e', CLIENT, path.join(dir, 'S-dev.sock')]);
        assert.match(c.stdout, /UNIX OK/, `control: ${c.stdout} ${c.stderr}`);
        assert.equal(l.hits(), 1);
      } finally {
        await l.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it(`${network}: a socket listening in the home folder (as git's credential cache) is hidden, and so is one that began listening between planning and launch (control: without the launch-time hiding that one is reached)`, async () => {
      const dir = fs.mkdtempSync(path.join(os.homedir(), '.as-cred-'));
      fs.writeFileSync(path.join(dir, 'config'), ''); // not a socket-only folder: the socket itself is hidden
      const sock = path.join(dir, 'socket');
      const l = await listen(sock);
      try {
        const ws = tempDir('as-home-');
        const p = plan({ workspaceRoots: [ws], network });
        assert.ok(p.hiddenSockets.includes(sock), 'found in /proc/net/unix at plan time');
        const r = await run(backend, p, [NODE, '-e', CLIENT, sock]);
        assert.match(r.stdout, /UNIX ERR/, r.stderr);
        assert.equal(l.hits(), 0);
        const late = path.join(dir, 'late');
        const l2 = await listen(late);
        try {
          assert.ok(!p.hiddenSockets.includes(late), 'the plan predates it');
          const r2 = await run(backend, p, [NODE, '-e', CLIENT, late]);
          assert.match(r2.stdout, /UNIX ERR/, `a socket the plan did not see: ${r2.stdout} ${r2.stderr}`);
          assert.equal(l2.hits(), 0);
          const off = launchHiding(false);
          try {
            const c = await run(backend, p, [NODE, '-e', CLIENT, late]);
            assert.match(c.stdout, /UNIX OK/, `control (not hidden at launch): ${c.stdout} ${c.stderr}`);
            assert.equal(l2.hits(), 1);
          } finally {
            off.restore();
          }
        } finally {
          await l2.close();
        }
      } finally {
        await l.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  for (const network of ['offline', 'online'] as const) {
    it(`${network}: a socket-only folder removed between planning and the run (a daemon that exited) does not stop the command from starting`, async () => {
      const dir = fs.mkdtempSync(path.join(os.homedir(), '.as-gone-'));
      const l = await listen(path.join(dir, 'socket'));
      try {
        const p = plan({ workspaceRoots: [tempDir('as-gone-ws-')], network });
        assert.ok(p.hiddenSockets.includes(dir), p.hiddenSockets.join(', '));
        await l.close();
        fs.rmSync(dir, { recursive: true, force: true });
        const r = await run(backend, p, ['/bin/sh', '-c', 'echo started']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /started/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("a socket alone in its folder (as ~/.cache/git/credential/socket): the folder is hidden, so a restarted daemon's new socket stays hidden (control: without that hiding it is reached)", async () => {
    const dir = fs.mkdtempSync(path.join(os.homedir(), '.as-cred-'));
    const sock = path.join(dir, 'socket');
    let l = await listen(sock);
    try {
      const p = plan({ workspaceRoots: [tempDir('as-restart-')] });
      assert.ok(p.hiddenSockets.includes(dir), p.hiddenSockets.join(', '));
      const pending = run(backend, p, [NODE, '-e', CLIENT, sock, '100']);
      await new Promise((r) => setTimeout(r, 800));
      await l.close();
      fs.rmSync(sock, { force: true });
      l = await listen(sock);
      const r = await pending;
      assert.match(r.stdout, /UNIX ERR/, r.stderr);
      assert.equal(r.code, 0, 'nothing was replaced that the sandbox relies on');
      assert.equal(l.hits(), 0);
      const c = await run(backend, unhidden(p, dir), [NODE, '-e', CLIENT, sock]);
      assert.match(c.stdout, /UNIX OK/, `control: ${c.stdout} ${c.stderr}`);
    } finally {
      await l.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a hidden socket beside other files, re-created while the sandbox runs (a restarted daemon), stops the sandbox (control: without the guard the new socket is reached)', async () => {
    for (const guarded of [true, false]) {
      const dir = fs.mkdtempSync(path.join(os.homedir(), '.as-daemon-'));
      fs.writeFileSync(path.join(dir, 'config'), '');
      const sock = path.join(dir, 'socket');
      let l = await listen(sock);
      const p = plan({ workspaceRoots: [tempDir('as-restart-')] });
      const changed = Object.getOwnPropertyDescriptor(MountGuard.prototype, 'changed')!;
      if (!guarded) MountGuard.prototype.changed = () => undefined;
      try {
        // One try, late: the guard acts within milliseconds of the re-creation; a client polling faster could
        // still win that race (the README says so), which is why a socket alone in its folder hides the folder.
        const pending = run(backend, p, ['sh', '-c', `sleep 2; exec "$0" -e "$1" "$2"`, NODE, CLIENT, sock]);
        await new Promise((r) => setTimeout(r, 800));
        await l.close();
        fs.rmSync(sock, { force: true });
        l = await listen(sock);
        const r = await pending;
        if (guarded) {
          assert.equal(r.code, 125, `${r.stdout} ${r.stderr}`);
          assert.match(r.stopped ?? '', /socket was replaced on the host/);
          assert.equal(l.hits(), 0, 'the new daemon received nothing');
        } else {
          assert.equal(l.hits(), 1, `control: the re-created socket is reachable (${r.stdout} ${r.stderr})`);
        }
      } finally {
        Object.defineProperty(MountGuard.prototype, 'changed', changed);
        await l.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('a socket that starts listening after a broker started is not reachable by its later commands: the broker is retired and the next one hides it (control: without that re-check it is reached)', async () => {
    for (const checked of [true, false]) {
      const brokered = createLinuxBackend({ stateDir: STATE_DIR, broker: true });
      const sock = path.join(hostDir('as-late-'), 'late.sock');
      const p = plan({ workspaceRoots: [tempDir('as-late-ws-')] });
      const proto = Broker.prototype as unknown as { newSocket: () => string | undefined };
      const newSocket = proto.newSocket;
      // The control turns off both re-checks: the broker's before each spawn and its guard's socket watch.
      if (!checked) proto.newSocket = () => undefined;
      const watch = socketWatch(checked);
      try {
        assert.equal((await run(brokered, p, ['true'])).code, 0, 'the broker is up before the socket listens');
        const l = await listen(sock);
        try {
          assert.ok(!p.hiddenSockets.includes(sock), 'the plan predates the socket');
          const r = await run(brokered, p, [NODE, '-e', CLIENT, sock]);
          if (checked) {
            assert.match(r.stdout, /UNIX ERR/, r.stderr);
            assert.equal(l.hits(), 0, 'the late listener received nothing');
            const again = await run(brokered, p, [NODE, '-e', CLIENT, sock]);
            assert.match(again.stdout, /UNIX ERR/, 'the fresh broker keeps it hidden');
          } else {
            assert.match(r.stdout, /UNIX OK/, `control: ${r.stdout} ${r.stderr}`);
            assert.equal(l.hits(), 1);
          }
        } finally {
          await l.close();
        }
      } finally {
        proto.newSocket = newSocket;
        watch.restore();
        await brokered.dispose();
      }
    }
  });
});

/**
 * A command that waits for the host's trigger file in its working folder (written once the host has acted), then
 * `afterMs` more, then tries to connect to `sock` every 20 ms for 2 s. The guard compares the host's listening
 * sockets with the sandbox's start every 250 ms, so a socket is reachable for up to about that long before the
 * sandbox is stopped (the README's residual window); a client that tries after it shows the stop, and the control
 * tries at the same moment with the watch off.
 */
const TRIGGER = '.as-host-listened';
const lateClient = (sock: string, afterMs = 750) => [
  'sh',
  '-c',
  `while [ ! -e ${TRIGGER} ]; do sleep 0.01; done; sleep ${afterMs / 1000}; exec "$0" -e "$1" "$2" 100`,
  NODE,
  CLIENT,
  sock,
];

describe('linux sandbox: a host socket that starts listening while a sandbox runs', () => {
  for (const mode of ['cold', 'broker'] as const) {
    it(`${mode}: one in a visible folder (/var/tmp) receives nothing and the sandbox is stopped with the reason (control: with the guard's socket watch off it receives the connection)`, async () => {
      for (const watched of [true, false]) {
        const b = mode === 'cold' ? backend : createLinuxBackend({ stateDir: STATE_DIR, broker: true });
        const ws = tempDir('as-midrun-');
        const sock = path.join(hostDir('as-midrun-'), 'agent.sock');
        const p = plan({ workspaceRoots: [ws] });
        const watch = socketWatch(watched);
        let l: Listener | undefined;
        try {
          const pending = run(b, p, lateClient(sock));
          await new Promise((r) => setTimeout(r, 800));
          l = await listen(sock);
          fs.writeFileSync(path.join(ws, TRIGGER), '');
          const r = await pending;
          if (watched) {
            assert.equal(r.code, 125, `${r.stdout} ${r.stderr}`);
            assert.match(r.stopped ?? '', new RegExp(`${sock} started listening while the sandbox ran`));
            assert.doesNotMatch(r.stdout, /UNIX OK/);
            assert.equal(l.hits(), 0, 'the new listener received nothing');
          } else {
            assert.match(r.stdout, /UNIX OK/, `control: ${r.stdout} ${r.stderr}`);
            assert.equal(l.hits(), 1, 'control: the new listener was reached');
          }
        } finally {
          watch.restore();
          await l?.close();
          if (b !== backend) await b.dispose();
        }
      }
    });
  }

  it("no false stop: sockets the sandbox cannot see (the host's /tmp, a /run folder) or its own roots hold start listening mid-run, and the command runs to its end", async (t) => {
    const ws = tempDir('as-midrun-');
    const runDir = `/run/agent-sandbox-test-mid-${process.pid}`;
    let haveRun = true;
    try {
      fs.mkdirSync(runDir);
    } catch {
      haveRun = false;
    }
    const listeners: Listener[] = [];
    try {
      const p = plan({ workspaceRoots: [ws] });
      const pending = run(backend, p, [
        'sh',
        '-c',
        `while [ ! -e ${TRIGGER} ]; do sleep 0.01; done; sleep 0.75; echo ran`,
      ]);
      await new Promise((r) => setTimeout(r, 800));
      listeners.push(await listen(path.join(tempDir('as-midrun-tmp-'), 'x.sock')));
      listeners.push(await listen(path.join(ws, 'own.sock')));
      if (haveRun) listeners.push(await listen(path.join(runDir, 'x.sock')));
      fs.writeFileSync(path.join(ws, TRIGGER), '');
      const r = await pending;
      assert.equal(r.code, 0, `${r.stopped} ${r.stderr}`);
      assert.match(r.stdout, /ran/);
      if (!haveRun) t.diagnostic('/run not writable here: the /run case was not tried');
    } finally {
      for (const l of listeners) await l.close();
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  });
});

describe('linux sandbox: a host socket table that cannot be read', () => {
  for (const mode of ['cold', 'broker'] as const) {
    it(`${mode}: the sandbox is refused and nothing runs (control: with the readable table the same command runs)`, async () => {
      const b = mode === 'cold' ? backend : createLinuxBackend({ stateDir: STATE_DIR, broker: true });
      const ws = tempDir('as-blind-');
      const marker = path.join(ws, 'ran');
      const p = plan({ workspaceRoots: [ws] });
      const real = hostSockets.unixTable.path;
      try {
        hostSockets.unixTable.path = path.join(ws, 'missing', 'unix');
        await assert.rejects(
          run(b, p, ['sh', '-c', `echo x > ${marker}`]),
          /listening Unix sockets cannot be read .*nothing was run/,
        );
        assert.equal(fs.existsSync(marker), false, 'nothing ran');
        hostSockets.unixTable.path = real;
        const c = await run(b, p, ['sh', '-c', `echo x > ${marker}`]);
        assert.equal(c.code, 0, c.stderr);
        assert.equal(fs.existsSync(marker), true, 'control: the command ran');
      } finally {
        hostSockets.unixTable.path = real;
        if (b !== backend) await b.dispose();
      }
    });
  }
});
