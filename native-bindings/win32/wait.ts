/**
 * Waiting for a kernel object (a process) without holding a libuv thread-pool thread: RegisterWaitForSingleObject
 * hands the wait to the Windows thread pool, and its callback (one koffi-registered function shared by every
 * wait) is queued by koffi back onto the JS main thread. libuv's pool (4 threads, shared with fs/dns/crypto/zlib)
 * is never used, so any number of running commands leaves the extension host's async I/O alone.
 * Must never use `*.async` koffi calls for a wait that can last as long as a command does.
 */
import { checkBool, lastError, Win32Error } from './errors';
import { koffi, lazyFn, once, type Pointer } from './lib';

const declareCallback = once(() =>
  koffi().proto('void __stdcall AgentSandboxWaitCallback(void *context, uint8 timedOut)'),
);
const RegisterWaitForSingleObject = lazyFn(
  'kernel32.dll',
  'bool RegisterWaitForSingleObject(_Out_ void **wait, void *h, ' +
    'AgentSandboxWaitCallback *cb, void *context, uint32 ms, uint32 flags)',
  () => void declareCallback(),
);
const UnregisterWaitEx = lazyFn('kernel32.dll', 'bool UnregisterWaitEx(void *wait, void *completionEvent)');

const INFINITE = 0xffffffff;
const WT_EXECUTEONLYONCE = 0x8;

const pending = new Map<bigint, () => void>();
let nextId = 1n;
/** Keeps the event loop alive while a wait is registered (the Windows pool is invisible to libuv). */
let keepAlive: NodeJS.Timeout | undefined;

const callback = once(() =>
  koffi().register((context: unknown) => {
    const id = BigInt(context as bigint | number);
    const done = pending.get(id);
    pending.delete(id);
    if (pending.size === 0 && keepAlive) {
      clearInterval(keepAlive);
      keepAlive = undefined;
    }
    // Never throw into the Windows pool thread; resolving a promise cannot throw.
    done?.();
  }, koffi().pointer(declareCallback())),
);

/** How many registered waits have not fired yet (for tests and diagnostics). */
export function pendingWaits(): number {
  return pending.size;
}

/**
 * Resolves once `handle` is signalled (a process has exited). The handle must stay open until then. The wait is
 * unregistered (non-blocking) after it fires.
 */
export function waitForSignal(handle: bigint): Promise<void> {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    const out: Pointer[] = [null];
    let waitHandle: Pointer = null;
    pending.set(id, () => {
      // Non-blocking unregister once the callback has returned to the pool thread. It reports ERROR_IO_PENDING
      // because the callback ran; any other failure leaks one wait object, not worth failing a finished command.
      setImmediate(() => {
        if (waitHandle !== null) UnregisterWaitEx(waitHandle, null);
      });
      resolve();
    });
    keepAlive ??= setInterval(() => undefined, 1 << 30);
    try {
      checkBool(
        'RegisterWaitForSingleObject',
        RegisterWaitForSingleObject(out, handle, callback(), id, INFINITE, WT_EXECUTEONLYONCE),
      );
      waitHandle = out[0];
    } catch (e) {
      pending.delete(id);
      if (pending.size === 0 && keepAlive) {
        clearInterval(keepAlive);
        keepAlive = undefined;
      }
      reject(e instanceof Win32Error ? e : new Win32Error('RegisterWaitForSingleObject', lastError()));
    }
  });
}
