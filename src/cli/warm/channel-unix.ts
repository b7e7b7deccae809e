/**
 * The warm broker's channel on Linux: a Unix socket in the user's 0700 broker folder (src/protocol/warm.ts). The
 * broker checks the folder and the client's uid (SO_PEERCRED) on every connect. The client checks the folder and
 * the socket's owner; it does not ask SO_PEERCRED itself (that would load koffi into the launcher on every warm
 * call), and needs not: only this user can create a socket in that folder. A socket nobody listens on is stale and
 * removed with its record. Must never hand on a connection whose peer was not checked.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { closeFds, peerCredentials, recvFds, whenReadable } from '../../../native-bindings/linux/socket';
import { frame, infoPath, socketPath, unsafeDir, unsafeSocket } from '../../protocol/warm';
import type { ReceivedStdio, WarmChannel } from './channel';

/** How long a client asked for its descriptors may take to send them. */
const STDIO_MS = 3000;

interface StreamHandle {
  fd?: number;
  readStop(): number;
  readStart(): number;
}

/**
 * The fast client's descriptors: Node's reads would drop them (a plain read() discards SCM_RIGHTS), so reading is
 * stopped (the client sends nothing more until asked), the client asked with 'F', and its one-byte 'F' message read
 * with recvmsg; then reading resumes for the remaining frames. Exactly three descriptors, nothing else.
 */
async function receiveStdio(conn: Duplex): Promise<ReceivedStdio | string> {
  const handle = (conn as unknown as { _handle?: StreamHandle })._handle;
  const fd = handle?.fd ?? -1;
  if (!handle || fd < 0) return 'no connection';
  handle.readStop(); // Node still thinks it reads (its `reading` flag stays set), so it does not restart on its own
  try {
    conn.write(frame('F'));
    if (!(await whenReadable(fd, STDIO_MS))) return 'no descriptors came';
    const got = recvFds(fd, 1, 3);
    if (got.data.toString() !== 'F' || got.fds.length !== 3) {
      closeFds(got.fds);
      return `expected the caller's three descriptors, got ${got.fds.length}`;
    }
    const fds = got.fds as [number, number, number];
    return { fds, close: () => closeFds(fds.splice(0)) };
  } catch (e) {
    return (e as Error).message;
  } finally {
    if (!conn.destroyed) handle.readStart();
  }
}

function peerUid(conn: net.Socket): number | undefined {
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
  try {
    return peerCredentials(fd).uid;
  } catch {
    return undefined;
  }
}

function reachable(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.createConnection(sock);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

async function bind(server: net.Server, sock: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen(sock, () => resolve(undefined));
    });
    if (!err) return true;
    if (err.code !== 'EADDRINUSE' || (await reachable(sock))) return false;
    fs.rmSync(sock, { force: true }); // stale: its broker is gone
  }
  return false;
}

export const unixChannel: WarmChannel = {
  unsafeDir,
  receiveStdio,
  makeDir(dir) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch {
      // exists: checked next
    }
    return unsafeDir(dir);
  },

  async listen(dir, key, onConnection) {
    const sock = socketPath(dir, key);
    const server = net.createServer((conn) => {
      conn.on('error', () => undefined);
      if (peerUid(conn) !== process.getuid?.() || unsafeDir(dir)) conn.destroy();
      else onConnection(conn);
    });
    if (!(await bind(server, sock))) return undefined;
    fs.chmodSync(sock, 0o600);
    const ino = fs.lstatSync(sock).ino;
    const ours = () => {
      try {
        return fs.lstatSync(sock).ino === ino ? undefined : 'socket replaced';
      } catch (e) {
        return (e as Error).message;
      }
    };
    return {
      lost: ours,
      close() {
        server.close();
        if (ours()) return false;
        fs.rmSync(sock, { force: true });
        return true;
      },
    };
  },

  connect(dir, key) {
    const sock = socketPath(dir, key);
    const bad = unsafeDir(dir) ?? unsafeSocket(sock);
    if (bad) return Promise.resolve({ why: bad, stale: false });
    return new Promise((resolve) => {
      const conn = net.createConnection(sock);
      conn.once('error', (e: NodeJS.ErrnoException) => {
        const stale = e.code === 'ECONNREFUSED' && !unsafeSocket(sock);
        if (stale) for (const f of [sock, infoPath(dir, key)]) fs.rmSync(f, { force: true });
        resolve({ why: `not reachable (${e.code})`, stale });
      });
      conn.once('connect', () => resolve(conn));
    });
  },
};
