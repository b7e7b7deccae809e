/**
 * socketpair(2) for handing a command's stdio to the broker: the backend keeps one end and sends the other over
 * the broker's IPC channel. Both ends are close-on-exec. And SO_PEERCRED, for the CLI's warm broker to check who
 * connected. Loads koffi on first call only.
 */
import { koffi, ErrnoError } from './libc';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;

let socketpairFn: ((domain: number, type: number, protocol: number, fds: Int32Array) => number) | undefined;

/** A connected pair of Unix stream sockets, as two file descriptors. */
export function socketPair(): [number, number] {
  const k = koffi();
  socketpairFn ??= k
    .load('libc.so.6')
    .func('int socketpair(int domain, int type, int protocol, _Out_ int *fds)') as unknown as typeof socketpairFn;
  const fds = new Int32Array(2);
  if (socketpairFn!(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) !== 0) throw new ErrnoError('socketpair', k.errno());
  return [fds[0], fds[1]];
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
let getsockoptFn: ((fd: number, level: number, name: number, out: Buffer, len: Int32Array) => number) | undefined;

/** The credentials (`struct ucred`) of the process at the other end of a connected Unix socket, from the kernel. */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  const k = koffi();
  getsockoptFn ??= k
    .load('libc.so.6')
    .func(
      'int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ int *len)',
    ) as unknown as typeof getsockoptFn;
  const out = Buffer.alloc(12);
  const len = new Int32Array([12]);
  if (getsockoptFn!(fd, SOL_SOCKET, SO_PEERCRED, out, len) !== 0)
    throw new ErrnoError('getsockopt(SO_PEERCRED)', k.errno());
  return { pid: out.readInt32LE(0), uid: out.readUInt32LE(4), gid: out.readUInt32LE(8) };
}
