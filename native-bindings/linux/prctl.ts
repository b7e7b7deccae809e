/**
 * prctl(2) through the raw syscall: PR_SET_NO_NEW_PRIVS, required before an unprivileged seccomp filter or
 * Landlock domain, and PR_SET_DUMPABLE 0, which keeps same-user processes out of our /proc fds, memory and
 * pidfd_getfd. Loads koffi on first call only.
 */
import { syscall } from './libc';
import { currentArch, syscallNumber } from './syscall-numbers';

const PR_SET_NO_NEW_PRIVS = 38;
const PR_GET_NO_NEW_PRIVS = 39;
const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;

function prctlNr(): number {
  const arch = currentArch();
  if (!arch) throw new Error(`prctl: unsupported architecture ${process.arch}`);
  return syscallNumber(arch, 'prctl');
}

/** Sets no_new_privs on the calling thread (children inherit it); reads it back. */
export function setNoNewPrivs(): void {
  syscall(
    'prctl(PR_SET_NO_NEW_PRIVS)',
    prctlNr(),
    ['int', PR_SET_NO_NEW_PRIVS],
    ['long', 1],
    ['long', 0],
    ['long', 0],
    ['long', 0],
  );
  if (getNoNewPrivs() !== 1) throw new Error('prctl(PR_SET_NO_NEW_PRIVS) did not stick');
}

export function getNoNewPrivs(): number {
  return syscall(
    'prctl(PR_GET_NO_NEW_PRIVS)',
    prctlNr(),
    ['int', PR_GET_NO_NEW_PRIVS],
    ['long', 0],
    ['long', 0],
    ['long', 0],
    ['long', 0],
  );
}

/**
 * Makes this process non-dumpable: without CAP_SYS_PTRACE no other process can open its /proc/PID/fd or mem,
 * or take its file descriptors with pidfd_getfd. Children get the flag back at execve; reads it back.
 */
export function setNotDumpable(): void {
  syscall(
    'prctl(PR_SET_DUMPABLE)',
    prctlNr(),
    ['int', PR_SET_DUMPABLE],
    ['long', 0],
    ['long', 0],
    ['long', 0],
    ['long', 0],
  );
  const now = syscall(
    'prctl(PR_GET_DUMPABLE)',
    prctlNr(),
    ['int', PR_GET_DUMPABLE],
    ['long', 0],
    ['long', 0],
    ['long', 0],
    ['long', 0],
  );
  if (now !== 0) throw new Error('prctl(PR_SET_DUMPABLE, 0) did not stick');
}
