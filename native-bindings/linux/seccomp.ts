/**
 * seccomp(2): installs a classic-BPF filter program (built elsewhere, in pure TypeScript) on every thread of the
 * calling process with SECCOMP_FILTER_FLAG_TSYNC. Loads koffi on first call only. Requires no_new_privs.
 */
import { koffi, syscall } from './libc';
import { currentArch, syscallNumber } from './syscall-numbers';

const SECCOMP_SET_MODE_FILTER = 1;
const SECCOMP_FILTER_FLAG_TSYNC = 1;
/** Size of one `struct sock_filter` (u16 code, u8 jt, u8 jf, u32 k). */
export const SOCK_FILTER_SIZE = 8;

/** Installs `program` (concatenated little-endian `struct sock_filter`s) on all threads. */
export function installFilter(program: Buffer): void {
  const arch = currentArch();
  if (!arch) throw new Error(`seccomp: unsupported architecture ${process.arch}`);
  if (program.length === 0 || program.length % SOCK_FILTER_SIZE !== 0) {
    throw new Error(`seccomp: program of ${program.length} bytes is not a whole number of instructions`);
  }
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (pointer at offset 8 on 64-bit).
  const fprog = Buffer.alloc(16);
  fprog.writeUInt16LE(program.length / SOCK_FILTER_SIZE, 0);
  fprog.writeBigUInt64LE(BigInt(koffi().address(program)), 8);
  const tid = syscall(
    'seccomp(SECCOMP_SET_MODE_FILTER)',
    syscallNumber(arch, 'seccomp'),
    ['uint32_t', SECCOMP_SET_MODE_FILTER],
    ['uint32_t', SECCOMP_FILTER_FLAG_TSYNC],
    ['void *', fprog],
  );
  // With TSYNC, a positive result is the id of a thread that could not be synchronized.
  if (tid !== 0) throw new Error(`seccomp: thread ${tid} could not be synchronized; filter not applied everywhere`);
}
