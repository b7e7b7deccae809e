/**
 * The warm broker's channel on Linux: a Unix socket in the user's 0700 broker folder (src/protocol/warm.ts). The
 * broker checks the folder and the client's uid (SO_PEERCRED) on every connect. The client checks the folder and
 * the socket's owner; it does not ask SO_PEERCRED itself (that would load koffi into the launcher on every warm
 * call), and needs not: only this user can create a socket in that folder. A socket nobody listens on is stale and
 * removed with its record. Must never hand on a connection whose peer was not checked.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { peerCredentials } from '../../../native-bindings/linux/socket';
import { infoPath, socketPath, unsafeDir, unsafeSocket } from '../../protocol/warm';
import type { WarmChannel } from './channel';

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
