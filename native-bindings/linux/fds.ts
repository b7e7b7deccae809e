/**
 * Marks every file descriptor above 2 close-on-exec, so nothing the caller leaked to us (a shell's
 * `exec 200>>file`, a pipe, a TCP socket) reaches a command we start. close_range(2) with CLOSE_RANGE_CLOEXEC
 * (Linux 5.11+); on older kernels each open descriptor listed in /proc/self/fd gets FD_CLOEXEC through fcntl(2).
 * Our own descriptors stay usable (they are only closed at exec). Loads koffi on first call only.
 */
import * as fs from 'node:fs';
import { ErrnoError, koffi, syscall } from './libc';
import { currentArch, syscallNumber } from './syscall-numbers';

const CLOSE_RANGE_CLOEXEC = 1 << 2;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const ENOSYS = 38;
const EINVAL = 22;

const O_CLOEXEC = 0o2000000;

/**
 * Descriptors above 2 that are not close-on-exec, from /proc/self/fdinfo (no native code: a caller can check
 * cheaply and load koffi only when something was leaked to it).
 */
export function inheritableFds(): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd <= 2) continue;
    try {
      const flags = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (flags !== undefined && !(parseInt(flags, 8) & O_CLOEXEC)) out.push(fd);
    } catch {
      // closed meanwhile (the directory listing's own descriptor)
    }
  }
  return out;
}

let fcntlFn: ((fd: number, cmd: number, ...args: unknown[]) => number) | undefined;

/** Every descriptor from 3 up becomes close-on-exec. Throws ErrnoError when that cannot be done. */
export function cloexecAbove2(): void {
  const arch = currentArch();
  if (!arch) throw new Error(`close_range: unsupported architecture ${process.arch}`);
  try {
    syscall(
      'close_range',
      syscallNumber(arch, 'close_range'),
      ['uint32_t', 3],
      ['uint32_t', 0xffffffff],
      ['uint32_t', CLOSE_RANGE_CLOEXEC],
    );
    return;
  } catch (e) {
    if (!(e instanceof ErrnoError) || (e.errno !== ENOSYS && e.errno !== EINVAL)) throw e;
  }
  fcntlFn ??= koffi().load('libc.so.6').func('int fcntl(int fd, int cmd, ...)') as unknown as typeof fcntlFn;
  for (const name of fs.readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (
      fd > 2 &&
      fcntlFn!(fd, F_SETFD, 'int', FD_CLOEXEC) === -1 &&
      koffi().errno() !== 9 /* EBADF: the dir's own fd */
    ) {
      throw new ErrnoError('fcntl(F_SETFD)', koffi().errno());
    }
  }
}
