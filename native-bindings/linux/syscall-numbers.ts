/**
 * System call numbers and seccomp audit architectures for the CPU architectures we support. Pure data; loads no
 * native code. Missing entries mean "no such syscall on this architecture".
 */

export type LinuxArch = 'x64' | 'arm64';

/** AUDIT_ARCH_* values that appear in `seccomp_data.arch`. */
export const AUDIT_ARCH: Record<LinuxArch, number> = {
  x64: 0xc000003e, // AUDIT_ARCH_X86_64
  arm64: 0xc00000b7, // AUDIT_ARCH_AARCH64
};

/** x86-64: syscall numbers with this bit set belong to the x32 ABI and must be refused. */
export const X32_SYSCALL_BIT = 0x40000000;

/** Syscalls added after the tables were unified (Linux 5.1+): the same number on every architecture. */
const UNIFIED = {
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  pidfd_open: 434,
  close_range: 436,
  pidfd_getfd: 438,
  landlock_create_ruleset: 444,
  landlock_add_rule: 445,
  landlock_restrict_self: 446,
};

const TABLE: Record<LinuxArch, Record<string, number>> = {
  x64: {
    ioctl: 16,
    socket: 41,
    ptrace: 101,
    prctl: 157,
    add_key: 248,
    request_key: 249,
    keyctl: 250,
    process_vm_readv: 310,
    process_vm_writev: 311,
    seccomp: 317,
    ...UNIFIED,
  },
  arm64: {
    ioctl: 29,
    prctl: 167,
    add_key: 217,
    request_key: 218,
    keyctl: 219,
    socket: 198,
    ptrace: 117,
    process_vm_readv: 270,
    process_vm_writev: 271,
    seccomp: 277,
    ...UNIFIED,
  },
};

/** The running process's architecture, or undefined when we have no syscall table for it. */
export function currentArch(): LinuxArch | undefined {
  return process.arch === 'x64' || process.arch === 'arm64' ? process.arch : undefined;
}

/** The number of `name` on `arch`; throws for an unknown name so a typo never silently drops a rule. */
export function syscallNumber(arch: LinuxArch, name: string): number {
  const nr = TABLE[arch][name];
  if (nr === undefined) throw new Error(`No syscall number for "${name}" on ${arch}.`);
  return nr;
}

/** ioctl request numbers (identical on x86-64 and arm64). */
export const IOCTL: Record<string, number> = {
  TIOCSTI: 0x5412,
  TIOCLINUX: 0x541c,
};

/** Address families for `socket()`. */
export const AF: Record<string, number> = {
  AF_UNIX: 1,
  AF_INET: 2,
  AF_INET6: 10,
  AF_NETLINK: 16,
  AF_PACKET: 17,
};
