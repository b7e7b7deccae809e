/**
 * Lazy access to koffi and libc for the Linux bindings, and `ErrnoError`. Importing this module loads nothing:
 * koffi and libc are loaded on the first native call. Must never be imported outside native-bindings/.
 */
import type * as KoffiNs from 'koffi';

export type Koffi = typeof KoffiNs;

let koffiModule: Koffi | undefined;
let libc: KoffiNs.LibraryHandle | undefined;
let syscallFn: ((...args: unknown[]) => number | bigint) | undefined;

/** koffi itself, required on first use. */
export function koffi(): Koffi {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  koffiModule ??= require('koffi') as Koffi;
  return koffiModule;
}

function lib(): KoffiNs.LibraryHandle {
  libc ??= koffi().load('libc.so.6');
  return libc;
}

/** A failed system call: the API name and errno, read right after the call. */
export class ErrnoError extends Error {
  override readonly name = 'ErrnoError';
  constructor(
    readonly api: string,
    readonly errno: number,
  ) {
    super(`${api} failed: ${errnoName(errno)} (errno ${errno})`);
  }
}

function errnoName(errno: number): string {
  const table = koffi().os.errno as Record<string, number>;
  return Object.keys(table).find((k) => table[k] === errno) ?? 'unknown error';
}

/** A variadic syscall argument: koffi needs its C type. */
export type SyscallArg = ['long' | 'int' | 'uint32_t' | 'uint64_t' | 'size_t', number | bigint] | ['void *', unknown];

/**
 * `syscall(nr, ...)` through libc. Returns the result, or throws ErrnoError naming `api` when it is -1.
 */
export function syscall(api: string, nr: number, ...args: SyscallArg[]): number {
  syscallFn ??= lib().func('long syscall(long nr, ...)') as unknown as (...a: unknown[]) => number | bigint;
  const result = Number(syscallFn(nr, ...args.flat()));
  if (result === -1) throw new ErrnoError(api, koffi().errno());
  return result;
}

let closeFn: ((fd: number) => number) | undefined;

/** `close(fd)`, ignoring errors (used on cleanup paths only). */
export function closeFd(fd: number): void {
  closeFn ??= lib().func('int close(int fd)') as unknown as (fd: number) => number;
  closeFn(fd);
}
