/**
 * socketpair(2) for handing a command's stdio to the broker: the backend keeps one end and sends the other over
 * the broker's IPC channel. Both ends are close-on-exec. Loads koffi on first call only.
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
