/**
 * Lazy access to koffi and the Win32 DLLs. Importing this module (or any binding built on it) loads nothing:
 * koffi is required on the first native call, each DLL on the first call into it, and each prototype is bound
 * once. Must never be imported outside native-bindings/ (only bindings talk to koffi).
 */
import type * as KoffiNs from 'koffi';

export type Koffi = typeof KoffiNs;
export type KoffiType = KoffiNs.TypeObject;
/** A native pointer or handle as koffi 3 returns it (BigInt), or null for NULL. */
export type Pointer = bigint | null;
/** A bound native function. Arguments and results are whatever the prototype says; wrappers type them. */
export type NativeFn = (...args: unknown[]) => unknown;

export type Dll =
  | 'kernel32.dll'
  | 'advapi32.dll'
  | 'userenv.dll'
  | 'netapi32.dll'
  | 'crypt32.dll'
  | 'ole32.dll'
  | 'oleaut32.dll'
  | 'shell32.dll'
  | 'user32.dll'
  | 'ntdll.dll';

let koffiModule: Koffi | undefined;
const dlls = new Map<Dll, KoffiNs.LibraryHandle>();

/** koffi itself, required on first use. */
export function koffi(): Koffi {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  koffiModule ??= require('koffi') as Koffi;
  return koffiModule;
}

/** A loaded DLL (loaded once, on first use). */
export function dll(name: Dll): KoffiNs.LibraryHandle {
  let lib = dlls.get(name);
  if (!lib) {
    lib = koffi().load(name);
    dlls.set(name, lib);
  }
  return lib;
}

/**
 * A function that binds `prototype` (koffi's C-like syntax, `__stdcall` implied on x64) from `name` on its first
 * call. Type names used in the prototype must be declared before that first call (see `once`).
 */
export function lazyFn(name: Dll, prototype: string, declareTypes?: () => void): NativeFn {
  let bound: ReturnType<KoffiNs.LibraryHandle['func']> | undefined;
  return (...args: unknown[]) => {
    if (!bound) {
      declareTypes?.();
      bound = dll(name).func(prototype);
    }
    return bound(...args);
  };
}

/** What an asynchronous call returned, with the worker thread's last Win32 error right after the call. */
export interface AsyncOutcome {
  value: unknown;
  lastError: number;
}

let getLastError: ReturnType<KoffiNs.LibraryHandle['func']> | undefined;

/**
 * Like `lazyFn`, but the call runs on koffi's worker thread and resolves with the result and that thread's last
 * error: for calls that block (WaitForSingleObject, ReadFile, the UAC prompt of ShellExecuteExW) and must not block
 * the event loop. koffi (3.2+) exposes the worker's GetLastError() only while the completion callback runs, so it
 * is read there, before anything else; after an `await` it would be the main thread's again. `_Out_`/`_Inout_`
 * arguments are copied back before the callback, as for synchronous calls.
 */
export function lazyAsyncCall(
  name: Dll,
  prototype: string,
  declareTypes?: () => void,
): (...args: unknown[]) => Promise<AsyncOutcome> {
  let bound: ReturnType<KoffiNs.LibraryHandle['func']> | undefined;
  return (...args: unknown[]) => {
    if (!bound) {
      declareTypes?.();
      bound = dll(name).func(prototype);
    }
    getLastError ??= dll('kernel32.dll').func('uint32 GetLastError()');
    const fn = bound;
    const readError = getLastError;
    return new Promise((resolve, reject) => {
      fn.async(...args, (err: unknown, value: unknown) => {
        const lastError = readError() as number;
        if (err) reject(err);
        else resolve({ value, lastError });
      });
    });
  };
}

/** `lazyAsyncCall` for callers that need only the result (they query errors themselves, or have none). */
export function lazyAsyncFn(name: Dll, prototype: string): (...args: unknown[]) => Promise<unknown> {
  const call = lazyAsyncCall(name, prototype);
  return async (...args: unknown[]) => (await call(...args)).value;
}

/** Memoizes a thunk: koffi type names are global, so each struct is declared exactly once, on demand. */
export function once<T>(make: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = make();
      done = true;
    }
    return value;
  };
}

/** True for a NULL pointer in any of the forms koffi may return. */
export function isNull(p: unknown): boolean {
  return p === null || p === undefined || p === 0n || p === 0;
}

/** INVALID_HANDLE_VALUE ((HANDLE)-1) as koffi returns it: signed or unsigned 64-bit. */
export function isInvalidHandle(p: unknown): boolean {
  return p === -1n || p === 0xffffffffffffffffn || p === -1;
}

/** Encodes a JS string as a NUL-terminated UTF-16LE buffer (for `LPWSTR` fields and in/out parameters). */
export function wide(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf16le');
}

/** Decodes a UTF-16LE buffer up to its first NUL. */
export function fromWide(buf: Buffer, chars?: number): string {
  const s = buf.toString('utf16le', 0, chars === undefined ? buf.length : chars * 2);
  const nul = s.indexOf('\0');
  return nul === -1 ? s : s.slice(0, nul);
}
