/**
 * socketpair(2) for handing a command's stdio to the broker: the backend keeps one end and sends the other over
 * the broker's IPC channel. Both ends are close-on-exec. SO_PEERCRED, for the CLI's warm broker to check who
 * connected. And sendmsg/recvmsg with SCM_RIGHTS, for the fast client's stdio: its own descriptors, passed to the
 * warm broker and on to the runner. Loads koffi on first call only.
 */
import { closeFd, koffi, ErrnoError } from './libc';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;

let socketpairFn: ((domain: number, type: number, protocol: number, fds: Int32Array) => number) | undefined;

/** A connected pair of Unix stream (or, with `packets`, seqpacket) sockets, as two file descriptors. */
export function socketPair(packets = false): [number, number] {
  const k = koffi();
  socketpairFn ??= k
    .load('libc.so.6')
    .func('int socketpair(int domain, int type, int protocol, _Out_ int *fds)') as unknown as typeof socketpairFn;
  const fds = new Int32Array(2);
  if (socketpairFn!(AF_UNIX, (packets ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0, fds) !== 0)
    throw new ErrnoError('socketpair', k.errno());
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

// struct msghdr (64-bit): name, namelen (+pad), iov, iovlen, control, controllen, flags (+pad): 56 bytes.
const MSGHDR_SIZE = 56;
// struct cmsghdr: size_t cmsg_len, int cmsg_level, int cmsg_type, then the data (aligned to 8).
const CMSG_HEADER = 16;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_CTRUNC = 0x8;
const MSG_CMSG_CLOEXEC = 0x40000000;
/** Room for far more descriptors than anyone may send, so an excess is received (and closed), not cut off. */
const CONTROL_SIZE = 512;

let recvmsgFn: ((fd: number, msg: Buffer, flags: number) => number | bigint) | undefined;
let sendmsgFn: ((fd: number, msg: Buffer, flags: number) => number | bigint) | undefined;
let pollFn:
  { async: (fds: Buffer, n: number, ms: number, cb: (err: unknown, value: number) => void) => void } | undefined;

function msghdr(data: Buffer, control: Buffer | undefined): { msg: Buffer; iov: Buffer } {
  const k = koffi();
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(BigInt(k.address(data)), 0);
  iov.writeBigUInt64LE(BigInt(data.length), 8);
  const msg = Buffer.alloc(MSGHDR_SIZE);
  msg.writeBigUInt64LE(BigInt(k.address(iov)), 16);
  msg.writeBigUInt64LE(1n, 24);
  if (control) {
    msg.writeBigUInt64LE(BigInt(k.address(control)), 32);
    msg.writeBigUInt64LE(BigInt(control.length), 40);
  }
  return { msg, iov };
}

/** What one `recvFds` read: its data and the descriptors that came with it (close-on-exec, the caller's to close). */
export interface Received {
  data: Buffer;
  fds: number[];
}

/**
 * Reads one message of at most `size` bytes from `fd` without waiting (EAGAIN throws), with any descriptors sent
 * with it (SCM_RIGHTS, received close-on-exec). Throws, having closed every descriptor received, when more than
 * `maxFds` came, any other ancillary data came, or the control data was cut off.
 */
export function recvFds(fd: number, size: number, maxFds: number): Received {
  const k = koffi();
  recvmsgFn ??= k.load('libc.so.6').func('long recvmsg(int fd, void *msg, int flags)') as unknown as typeof recvmsgFn;
  const data = Buffer.alloc(size);
  const control = Buffer.alloc(CONTROL_SIZE);
  const { msg, iov } = msghdr(data, control);
  const n = Number(recvmsgFn!(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
  if (n < 0) throw new ErrnoError('recvmsg', k.errno());
  void iov; // kept alive until the call returned
  const fds: number[] = [];
  let bad: string | undefined;
  const controllen = Number(msg.readBigUInt64LE(40));
  if (msg.readInt32LE(48) & MSG_CTRUNC) bad = 'the ancillary data was cut off';
  for (let off = 0; off + CMSG_HEADER <= controllen;) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < CMSG_HEADER || off + len > controllen) {
      bad ??= 'malformed ancillary data';
      break;
    }
    const level = control.readInt32LE(off + 8);
    const type = control.readInt32LE(off + 12);
    const count = level === SOL_SOCKET && type === SCM_RIGHTS ? (len - CMSG_HEADER) / 4 : 0;
    for (let i = 0; i < count; i++) fds.push(control.readInt32LE(off + CMSG_HEADER + 4 * i));
    if (!count) bad ??= `unexpected ancillary data (level ${level}, type ${type})`;
    off += (len + 7) & ~7;
  }
  if (fds.length > maxFds) bad ??= `${fds.length} descriptors sent, at most ${maxFds} accepted`;
  if (bad) {
    for (const f of fds) closeFd(f);
    throw new Error(bad);
  }
  return { data: data.subarray(0, n), fds };
}

/** Closes each of `fds` (received descriptors, on every path). */
export function closeFds(fds: number[]): void {
  for (const f of fds) closeFd(f);
}

/** Sends `data` on the Unix socket `fd` with `fds` attached (SCM_RIGHTS); throws ErrnoError when that fails. */
export function sendFds(fd: number, data: Buffer, fds: number[]): void {
  const k = koffi();
  sendmsgFn ??= k.load('libc.so.6').func('long sendmsg(int fd, void *msg, int flags)') as unknown as typeof sendmsgFn;
  const control = Buffer.alloc(CMSG_HEADER + ((4 * fds.length + 7) & ~7));
  control.writeBigUInt64LE(BigInt(CMSG_HEADER + 4 * fds.length), 0);
  control.writeInt32LE(SOL_SOCKET, 8);
  control.writeInt32LE(SCM_RIGHTS, 12);
  fds.forEach((f, i) => control.writeInt32LE(f, CMSG_HEADER + 4 * i));
  const { msg, iov } = msghdr(data, fds.length ? control : undefined);
  const n = Number(sendmsgFn!(fd, msg, MSG_DONTWAIT));
  void iov;
  if (n < 0) throw new ErrnoError('sendmsg', k.errno());
  if (n !== data.length) throw new Error(`sendmsg sent ${n} of ${data.length} bytes`);
}

/**
 * Resolves true once `fd` is readable (or hung up), false after `ms`. Waits on a koffi worker thread, so the
 * event loop runs on; keep `ms` short (each wait holds one of libuv's few pool threads).
 */
export function whenReadable(fd: number, ms: number): Promise<boolean> {
  pollFn ??= koffi().load('libc.so.6').func('int poll(void *fds, unsigned long n, int ms)') as unknown as typeof pollFn;
  const pfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(1 /* POLLIN */, 4);
  return new Promise((resolve) => pollFn!.async(pfd, 1, ms, (err, value) => resolve(!err && value > 0)));
}
