/**
 * Linux sandbox, host sockets hidden by default (issue 12 §2), judged by what a listener on the host received:
 * a socket in a /run folder that no list names (as GNU screen's /run/screen), and a socket listening in the home
 * folder (as git's credential cache), are unreachable offline and online; a hidden socket re-created while a
 * sandbox runs (a restarted daemon) stops the sandbox. Controls: the same plan without the hiding (or without the
 * guard, or a socket that began listening after planning) reaches the listener.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { LinuxPlan } from '../../../src/policy';
import { MountGuard } from '../../../src/sandbox/linux/guard';
import { coldBackend, NODE, plan, run, tempDir } from './helpers';

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

    it(`${network}: a socket listening in the home folder (as git's credential cache) is hidden (control: one that began listening after planning is reached)`, async () => {
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
          const c = await run(backend, p, [NODE, '-e', CLIENT, late]);
          assert.match(c.stdout, /UNIX OK/, `control (a socket the plan did not see): ${c.stdout} ${c.stderr}`);
          assert.equal(l2.hits(), 1);
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
});
