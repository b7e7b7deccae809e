/**
 * Owners for native handles and allocations. Every HANDLE a binding returns is wrapped in a `Handle` whose
 * `close()` is idempotent; allocations from LocalAlloc-style APIs are wrapped in `LocalMemory`. Callers release
 * them in `finally`, through `using`, or through a `Scope` (src/scope.ts). Must never close a handle twice or hand
 * out a closed one.
 */
import { checkBool } from './errors';
import { lazyFn } from './lib';

const CloseHandle = lazyFn('kernel32.dll', 'bool CloseHandle(void *h)');
const LocalFree = lazyFn('kernel32.dll', 'void *LocalFree(void *mem)');

/** Owns one native resource released by `release`. */
export class NativeOwner {
  #value: bigint | null;
  constructor(
    value: bigint,
    /** What it is, for error messages ("job", "token", "pipe"...). */
    readonly kind: string,
    private readonly release: (value: bigint) => void,
  ) {
    this.#value = value;
  }

  /** The raw value; throws if already closed, so a closed handle is never passed to a native call. */
  get value(): bigint {
    if (this.#value === null) throw new Error(`The ${this.kind} handle is already closed.`);
    return this.#value;
  }

  get closed(): boolean {
    return this.#value === null;
  }

  /** Gives up ownership without releasing (e.g. after handing the handle to a callee that closes it). */
  detach(): bigint {
    const v = this.value;
    this.#value = null;
    return v;
  }

  /** Releases the resource. Idempotent. */
  close(): void {
    const v = this.#value;
    if (v === null) return;
    this.#value = null;
    this.release(v);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A kernel HANDLE closed with CloseHandle. */
export class Handle extends NativeOwner {
  constructor(value: bigint, kind = 'kernel object') {
    super(value, kind, (v) => checkBool('CloseHandle', CloseHandle(v)));
  }
}

/** Memory returned by an API documented as "free with LocalFree" (SIDs from ConvertStringSidToSidW, ACLs...). */
export class LocalMemory extends NativeOwner {
  constructor(value: bigint, kind = 'LocalAlloc memory') {
    super(value, kind, (v) => {
      LocalFree(v);
    });
  }
}

/** Anything with an idempotent close(). */
export interface Closable {
  close(): void;
}

/** Closes every owner, even when one throws; rethrows the first error. */
export function closeAll(...owners: (Closable | undefined | null)[]): void {
  let first: unknown;
  for (const o of owners) {
    try {
      o?.close();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}
