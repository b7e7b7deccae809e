/**
 * The warm broker's channel on Windows: a named pipe per user and key (src/protocol/warm-pipe.ts) with both ends
 * checked on every connect. The broker's side hands on only clients that run as this user with an unrestricted,
 * non-AppContainer token; the client's side talks only to the process recorded as the key's broker, running as this
 * user. Whether the pipe's DACL keeps a sandboxed command from even opening the pipe is Windows' to enforce (Wine
 * stores the DACL but does not enforce it); the checks here hold wherever the calls are implemented.
 * Must never hand on a connection whose peer was not checked, nor send anything before the server was checked.
 */
import * as fs from 'node:fs';
import type { Duplex } from 'node:stream';
import {
  connectPipe,
  pipeClientPid,
  pipeServerPid,
  PipeServer,
  processIdentity,
  type PipeStream,
} from '../../../native-bindings/win32/pipe-channel';
import { isWin32Error, WinError } from '../../../native-bindings/win32/errors';
import { openProcessToken, tokenUserSid } from '../../../native-bindings/win32/token';
import { fileOwnerSid, readFileSecurity, setProtectedFileDacl } from '../../../native-bindings/win32/acl';
import {
  brokerDirSddl,
  brokerPipeName,
  brokerPipeSddl,
  refuseClient,
  refuseServer,
  unsafeWinDir,
  type PeerIdentity,
} from '../../protocol/warm-pipe';
import { infoPath } from '../../protocol/warm';
import type { ChannelListener, WarmChannel } from './channel';

const NO_BROKER = 'no broker listens';

let ownSid: string | undefined;

/** This process's user SID (read once). */
export function currentUserSid(): string {
  if (ownSid) return ownSid;
  const t = openProcessToken(0x8 /* TOKEN_QUERY */);
  try {
    ownSid = tokenUserSid(t);
  } finally {
    t.close();
  }
  return ownSid;
}

function identify(pid: () => number): PeerIdentity | Error {
  try {
    return processIdentity(pid());
  } catch (e) {
    return e as Error;
  }
}

/**
 * Listens on the key's pipe. Returns undefined when the name is already taken (a live broker of ours, or anyone
 * else's pipe of that name: FILE_FLAG_FIRST_PIPE_INSTANCE refuses both, and neither is joined). `onRefused` hears
 * of each client turned away.
 */
export function listenBrokerPipe(
  key: string,
  onConnection: (conn: Duplex) => void,
  onRefused: (why: string) => void = () => undefined,
): PipeServer | undefined {
  const sid = currentUserSid();
  const check = (conn: PipeStream) => {
    conn.on('error', () => undefined);
    const why = refuseClient(
      sid,
      identify(() => pipeClientPid(conn.handle)),
    );
    if (why) {
      onRefused(why);
      conn.destroy();
    } else onConnection(conn);
  };
  try {
    return new PipeServer(brokerPipeName(sid, key), brokerPipeSddl(sid), check);
  } catch (e) {
    if (isWin32Error(e, WinError.ACCESS_DENIED) || isWin32Error(e, WinError.PIPE_BUSY)) return undefined;
    throw e;
  }
}

/**
 * Connects to the key's broker, recorded as process `brokerPid`. Resolves the checked stream, or why there is none
 * to use: no such pipe (the broker is gone: the call runs cold), or a server that is not that broker of ours.
 */
export async function connectBrokerPipe(key: string, brokerPid: number): Promise<Duplex | string> {
  const sid = currentUserSid();
  let conn: PipeStream | undefined;
  try {
    conn = await connectPipe(brokerPipeName(sid, key));
  } catch (e) {
    return (e as Error).message;
  }
  if (!conn) return NO_BROKER;
  const c = conn;
  const why = refuseServer(
    sid,
    brokerPid,
    identify(() => pipeServerPid(c.handle)),
  );
  if (why) {
    conn.destroy();
    return why;
  }
  return conn;
}

/** Why the broker folder is not one only this user can change (its owner and DACL, read from the file system). */
export function unsafeBrokerDir(dir: string): string | undefined {
  try {
    if (!fs.lstatSync(dir).isDirectory()) return `${dir} is not a folder`;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message;
  }
  try {
    const sec = readFileSecurity(dir);
    try {
      return unsafeWinDir(currentUserSid(), fileOwnerSid(dir), sec.toSddl());
    } finally {
      sec.close();
    }
  } catch (e) {
    return `${dir}: its owner and permissions could not be read (${(e as Error).message})`;
  }
}

/**
 * The Windows channel (channel.ts). The pipe cannot be replaced while the broker holds it (its name lives as long
 * as an instance does): it is lost only if waiting for clients failed. A broker gone leaves no pipe, only its
 * record, removed here.
 */
export const pipeChannel: WarmChannel = {
  unsafeDir: unsafeBrokerDir,
  makeDir(dir) {
    if (!fs.existsSync(dir)) {
      try {
        fs.mkdirSync(dir, { recursive: true });
        setProtectedFileDacl(dir, brokerDirSddl(currentUserSid()));
      } catch {
        // checked next
      }
    }
    return unsafeBrokerDir(dir);
  },
  listen(_dir, key, onConnection) {
    const server = listenBrokerPipe(key, onConnection);
    return Promise.resolve(server && listenerOf(server));
  },
  async connect(dir, key, brokerPid) {
    const conn = await connectBrokerPipe(key, brokerPid);
    if (typeof conn !== 'string') return conn;
    const stale = conn === NO_BROKER;
    if (stale) fs.rmSync(infoPath(dir, key), { force: true });
    return { why: conn, stale };
  },
};

/** A pipe server as the channel's listener: lost once it can no longer wait for clients. */
export function listenerOf(server: PipeServer): ChannelListener {
  return {
    lost: () => server.failure?.message,
    close() {
      void server.close();
      return true;
    },
  };
}
