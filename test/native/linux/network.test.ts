/**
 * Linux sandbox, network and host sockets. Only listeners this test starts on this machine are used: TCP and UDP
 * on 127.0.0.1 and on a non-loopback local address (when the machine has one), pathname Unix sockets in the
 * places the sandbox hides, and an abstract Unix socket. Every denial also checks the listener saw nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { coldBackend, hostDir, NODE, plan, run, sh, tempDir } from './helpers';

const backend = coldBackend();

interface Listener {
  host: string;
  tcpPort: number;
  udpPort: number;
  tcpHits: number;
  udpHits: number;
  close(): void;
}

async function listen(host: string): Promise<Listener> {
  const l = { host, tcpPort: 0, udpPort: 0, tcpHits: 0, udpHits: 0, close: () => undefined };
  const tcp = net.createServer((s) => {
    l.tcpHits++;
    s.end('hello');
  });
  await new Promise<void>((r) => tcp.listen(0, host, r));
  const udp = dgram.createSocket('udp4');
  udp.on('message', () => l.udpHits++);
  await new Promise<void>((r) => udp.bind(0, host, r));
  l.tcpPort = (tcp.address() as net.AddressInfo).port;
  l.udpPort = udp.address().port;
  l.close = () => {
    tcp.close();
    udp.close();
  };
  return l;
}

/** Connects over TCP and sends one UDP datagram; prints TCP OK / TCP ERR code, UDP SENT / UDP ERR code. */
const CLIENT = `
const net = require('net'), dgram = require('dgram');
const [host, tport, uport] = process.argv.slice(1);
const s = net.connect(+tport, host);
s.on('data', () => { console.log('TCP OK'); s.destroy(); });
s.on('error', (e) => console.log('TCP ERR ' + e.code));
try {
  const u = dgram.createSocket('udp4');
  u.on('error', (e) => { console.log('UDP ERR ' + e.code); u.close(); });
  u.send('x', +uport, host, (e) => { console.log(e ? 'UDP ERR ' + e.code : 'UDP SENT'); try { u.close(); } catch {} });
} catch (e) { console.log('UDP ERR ' + e.code); }`;

const localAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
const hosts = ['127.0.0.1', ...(localAddress ? [localAddress] : [])];
const listeners: Listener[] = [];
before(async () => {
  for (const h of hosts) listeners.push(await listen(h));
});
after(async () => {
  listeners.forEach((l) => l.close());
  await backend.dispose();
});

/** Lets datagrams in flight arrive before the hit counters are read. */
async function settle(l: Listener, want: number): Promise<void> {
  for (let i = 0; i < 100 && l.udpHits + l.tcpHits < want; i++) await new Promise((r) => setTimeout(r, 20));
}

describe('linux sandbox: network', () => {
  for (const h of hosts) {
    it(`offline: TCP and UDP to ${h} are denied and the listener sees nothing`, async () => {
      const ws = tempDir('as-net-');
      const l = listeners[hosts.indexOf(h)];
      const before = l.tcpHits + l.udpHits;
      const r = await run(backend, plan({ workspaceRoots: [ws], network: 'offline' }), [
        NODE,
        '-e',
        CLIENT,
        h,
        String(l.tcpPort),
        String(l.udpPort),
      ]);
      assert.match(r.stdout, /TCP ERR/);
      assert.match(r.stdout, /UDP ERR/);
      // A datagram that was really sent would arrive within this wait; none must.
      await new Promise((res) => setTimeout(res, 200));
      assert.equal(l.tcpHits + l.udpHits, before);
    });

    if (h === '127.0.0.1') {
      it("online: the host's 127.0.0.1 listener sees nothing (own namespace through slirp4netns, host loopback not mapped; also via 10.0.2.2)", async () => {
        const ws = tempDir('as-net-');
        const l = listeners[hosts.indexOf(h)];
        const before = l.tcpHits + l.udpHits;
        const p = plan({ workspaceRoots: [ws], network: 'online' });
        assert.equal(p.userNet, 'slirp4netns');
        for (const target of ['127.0.0.1', '10.0.2.2']) {
          const r = await run(backend, p, [NODE, '-e', CLIENT, target, String(l.tcpPort), String(l.udpPort)]);
          assert.match(r.stdout, /TCP ERR/, `${target}: ${r.stdout} ${r.stderr}`);
        }
        await new Promise((res) => setTimeout(res, 200));
        assert.equal(l.tcpHits + l.udpHits, before);
      });
    }

    it(`online${h === '127.0.0.1' ? ' with allowHostLoopback (the control for the case above)' : ''}: TCP and UDP to ${h} work`, async () => {
      const ws = tempDir('as-net-');
      const l = listeners[hosts.indexOf(h)];
      const tcp = l.tcpHits;
      const udp = l.udpHits;
      const r = await run(
        backend,
        plan({ workspaceRoots: [ws], network: 'online', allowHostLoopback: h === '127.0.0.1' }),
        [NODE, '-e', CLIENT, h, String(l.tcpPort), String(l.udpPort)],
      );
      assert.match(r.stdout, /TCP OK/, r.stderr);
      assert.match(r.stdout, /UDP SENT/);
      await settle(l, tcp + udp + 2);
      assert.equal(l.tcpHits, tcp + 1);
      assert.equal(l.udpHits, udp + 1);
    });
  }
});

/** Prints UNIX OK when it got the server's greeting, UNIX ERR code otherwise. `@name` is an abstract socket. */
const UNIX_CLIENT = `
const a = process.argv[1];
const s = require('net').connect(a.startsWith('@') ? '\\0' + a.slice(1) : a);
s.on('data', () => { console.log('UNIX OK'); s.destroy(); });
s.on('error', (e) => console.log('UNIX ERR ' + e.code));`;

async function unixServer(where: string): Promise<{ hits: () => number; close: () => void }> {
  let hits = 0;
  const srv = net.createServer((s) => {
    hits++;
    s.end('hello');
  });
  await new Promise<void>((r) => srv.listen(where, r));
  return { hits: () => hits, close: () => srv.close() };
}

/**
 * A listener of our own at `dir/<unique>.sock`, in a system folder the sandbox hides. The folder is created (and
 * removed afterwards) only when it is missing, which needs root; an existing socket there is never touched.
 */
async function systemSocket(dir: string): Promise<{ path: string; hits: () => number; close: () => void } | string> {
  const made = !fs.existsSync(dir);
  try {
    if (made) fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    return `needs ${dir} writable (run as root, as CI does)`;
  }
  const where = path.join(dir, `agent-sandbox-test-${process.pid}.sock`);
  const srv = await unixServer(where);
  return {
    path: where,
    hits: srv.hits,
    close: () => {
      srv.close();
      fs.rmSync(where, { force: true });
      if (made) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('linux sandbox: host Unix sockets', () => {
  for (const network of ['offline', 'online'] as const) {
    it(`${network}: SSH_AUTH_SOCK and XDG_RUNTIME_DIR sockets on the host are unreachable`, async () => {
      const ws = tempDir('as-unix-');
      const agentDir = hostDir('as-agent-');
      const runtimeDir = hostDir('as-xdg-');
      const agent = await unixServer(path.join(agentDir, 'agent.sock'));
      const bus = await unixServer(path.join(runtimeDir, 'bus'));
      try {
        const env = { ...process.env, SSH_AUTH_SOCK: path.join(agentDir, 'agent.sock'), XDG_RUNTIME_DIR: runtimeDir };
        const p = plan({ workspaceRoots: [ws], network }, env);
        for (const target of [path.join(agentDir, 'agent.sock'), path.join(runtimeDir, 'bus')]) {
          const r = await run(backend, p, [NODE, '-e', UNIX_CLIENT, target]);
          assert.match(r.stdout, /UNIX ERR/, `${target} must be unreachable`);
        }
        assert.equal(agent.hits() + bus.hits(), 0);
      } finally {
        agent.close();
        bus.close();
      }
    });

    for (const [dir, what] of [
      ['/run/dbus', 'the D-Bus system bus'],
      ['/run/libvirt', 'libvirt'],
      ['/run/containerd', 'containerd'],
      ['/run/cups', 'CUPS'],
    ] as const) {
      it(`${network}: ${what}'s socket folder (${dir}) is hidden, so that daemon cannot act for the command`, async (t) => {
        const daemon = await systemSocket(dir);
        if (typeof daemon === 'string') return t.skip(daemon);
        try {
          const ws = tempDir('as-daemon-');
          const r = await run(backend, plan({ workspaceRoots: [ws], network }), [NODE, '-e', UNIX_CLIENT, daemon.path]);
          assert.match(r.stdout, /UNIX ERR/, r.stderr);
          assert.equal(daemon.hits(), 0);
        } finally {
          daemon.close();
        }
      });
    }

    it(`${network}: the host's name-resolution daemon (nscd) is hidden with the rest of /run (offline, a lookup through it would reach the network)`, async (t) => {
      const nscd = await systemSocket('/run/nscd');
      if (typeof nscd === 'string') return t.skip(nscd);
      try {
        const ws = tempDir('as-nscd-');
        const r = await run(backend, plan({ workspaceRoots: [ws], network }), [NODE, '-e', UNIX_CLIENT, nscd.path]);
        assert.match(r.stdout, /UNIX ERR/, r.stderr);
        assert.equal(nscd.hits(), 0);
      } finally {
        nscd.close();
      }
    });

    it(`${network}: a workspace inside XDG_RUNTIME_DIR works; the runtime dir's other sockets stay hidden`, async () => {
      const runtimeDir = hostDir('as-xdg-');
      const ws = path.join(runtimeDir, 'my ws');
      fs.mkdirSync(ws);
      const bus = await unixServer(path.join(runtimeDir, 'bus'));
      try {
        const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir, SSH_AUTH_SOCK: path.join(runtimeDir, 'bus') };
        const p = plan({ workspaceRoots: [ws], network }, env);
        const r = await run(
          backend,
          p,
          sh(
            `echo in > inside.txt; ls -A '${runtimeDir}'; echo x > .vscode/tasks.json; ` +
              `echo y > '${runtimeDir}/new'; true`,
          ),
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(fs.readFileSync(path.join(ws, 'inside.txt'), 'utf8'), 'in\n', 'the workspace is writable');
        assert.equal(r.stdout, 'my ws\n', 'only the workspace is visible in the runtime dir');
        const c = await run(backend, p, [NODE, '-e', UNIX_CLIENT, path.join(runtimeDir, 'bus')]);
        assert.match(c.stdout, /UNIX ERR/);
        assert.equal(bus.hits(), 0);
        assert.equal(fs.existsSync(path.join(ws, '.vscode/tasks.json')), false, 'protected paths still apply');
        assert.equal(fs.existsSync(path.join(runtimeDir, 'new')), false);
      } finally {
        bus.close();
      }
    });

    it(`${network}: a working folder the sandbox hides (inside XDG_RUNTIME_DIR, outside the workspace) fails closed with the folder named`, async () => {
      const runtimeDir = hostDir('as-xdg-');
      const cwd = path.join(runtimeDir, 'elsewhere');
      fs.mkdirSync(cwd);
      const ws = tempDir('as-unix-');
      const p = plan({ workspaceRoots: [ws], network }, { ...process.env, XDG_RUNTIME_DIR: runtimeDir });
      await assert.rejects(
        run(backend, p, sh('echo ran > /dev/null; touch ran'), { cwd }),
        (e: Error & { code?: string; fix?: string }) => {
          assert.equal(e.code, 'hidden-path');
          assert.match(e.message, new RegExp(`${cwd}.*inside ${runtimeDir}.*nothing was run`));
          assert.match(e.fix ?? '', /outside/);
          return true;
        },
      );
      assert.deepEqual(fs.readdirSync(cwd), [], 'nothing ran');
      assert.equal(fs.existsSync(path.join(ws, '.vscode')), false, 'nothing was prepared either');
    });

    it(`${network}: an abstract Unix socket of the host is unreachable; one in the workspace is reachable`, async () => {
      const ws = tempDir('as-unix-');
      const abstract = await unixServer(`\0agent-sandbox-test-${process.pid}-${network}`);
      const inside = await unixServer(path.join(ws, 'ok.sock'));
      try {
        const p = plan({ workspaceRoots: [ws], network });
        const name = `@agent-sandbox-test-${process.pid}-${network}`;
        const denied = await run(backend, p, [NODE, '-e', UNIX_CLIENT, name]);
        assert.match(denied.stdout, /UNIX ERR/);
        assert.equal(abstract.hits(), 0);
        // Control: the same client outside the sandbox does reach it.
        const { stdout } = await promisify(execFile)(NODE, ['-e', UNIX_CLIENT, name]);
        assert.match(stdout, /UNIX OK/);
        assert.equal(abstract.hits(), 1);
        const ok = await run(backend, p, [NODE, '-e', UNIX_CLIENT, path.join(ws, 'ok.sock')]);
        assert.match(ok.stdout, /UNIX OK/, ok.stderr);
        assert.equal(inside.hits(), 1);
      } finally {
        abstract.close();
        inside.close();
        fs.rmSync(path.join(ws, 'ok.sock'), { force: true });
      }
    });
  }
});
