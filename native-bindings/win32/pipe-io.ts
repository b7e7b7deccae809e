/**
 * The server side of a broker pipe, read and written natively: the peer (a runner under another account, or the
 * elevated setup process) connects with Node `net`, but our end is a HANDLE created with a DACL, so it is read
 * with ReadFile on koffi's worker thread. Each pipe is used in one direction only, because blocking reads and
 * writes on one synchronous handle would serialize. Also: who is on the other end (GetNamedPipeClientProcessId).
 * Must never accept data before the client's process id has been checked by the caller.
 */
import { checkBool, lastError, Win32Error, WinError } from './errors';
import type { Handle } from './handle';
import { lazyAsyncFn, lazyFn } from './lib';

const ConnectNamedPipe = lazyFn('kernel32.dll', 'bool ConnectNamedPipe(void *pipe, void *overlapped)');
const SetNamedPipeHandleState = lazyFn(
  'kernel32.dll',
  'bool SetNamedPipeHandleState(void *pipe, _Inout_ uint32 *mode, void *maxCollection, void *timeout)',
);
const GetNamedPipeClientProcessId = lazyFn(
  'kernel32.dll',
  'bool GetNamedPipeClientProcessId(void *pipe, _Out_ uint32 *pid)',
);
const ReadFileAsync = lazyAsyncFn(
  'kernel32.dll',
  'bool ReadFile(void *h, _Out_ uint8_t *buf, uint32 size, _Out_ uint32 *read, void *overlapped)',
);
const WriteFileAsync = lazyAsyncFn(
  'kernel32.dll',
  'bool WriteFile(void *h, uint8_t *buf, uint32 size, _Out_ uint32 *written, void *overlapped)',
);
const PeekNamedPipe = lazyFn(
  'kernel32.dll',
  'bool PeekNamedPipe(void *pipe, void *buf, uint32 size, void *read, _Out_ uint32 *avail, void *left)',
);

const PIPE_WAIT = 0x0;
const PIPE_NOWAIT = 0x1;
const ERROR_PIPE_LISTENING = 536;
const ERROR_BROKEN_PIPE = 109;
const READ_CHUNK = 64 * 1024;

/**
 * Waits for a client without parking a thread: the pipe is put in non-blocking mode and polled, then returned to
 * blocking mode. Throws Win32Error(…, 1460 ERROR_TIMEOUT) after `timeoutMs`, or the signal's reason when aborted.
 */
export async function waitForClient(pipe: Handle, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  setMode(pipe, PIPE_NOWAIT);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (ConnectNamedPipe(pipe.value, null)) return;
      const code = lastError();
      // NO_DATA: the client connected and already closed its end; what it wrote can still be read.
      if (code === WinError.PIPE_CONNECTED || code === WinError.NO_DATA) return;
      if (code !== ERROR_PIPE_LISTENING) throw new Win32Error('ConnectNamedPipe', code);
      signal?.throwIfAborted();
      if (Date.now() > deadline) throw new Win32Error('ConnectNamedPipe', 1460, 'no client connected in time');
      await new Promise((r) => setTimeout(r, 15));
    }
  } finally {
    if (!pipe.closed) setMode(pipe, PIPE_WAIT);
  }
}

function setMode(pipe: Handle, mode: number): void {
  checkBool('SetNamedPipeHandleState', SetNamedPipeHandleState(pipe.value, [mode], null, null));
}

/** The process id of the connected client. */
export function clientProcessId(pipe: Handle): number {
  const pid = [0];
  checkBool('GetNamedPipeClientProcessId', GetNamedPipeClientProcessId(pipe.value, pid));
  return pid[0];
}

/** Reads what is available (up to 64 KiB), or undefined at end of stream (the client closed its end). */
export async function readChunk(pipe: Handle): Promise<Buffer | undefined> {
  const buf = Buffer.alloc(READ_CHUNK);
  const read = [0];
  const ok = await ReadFileAsync(pipe.value, buf, buf.length, read, null);
  if (!ok) {
    const code = pipeState(pipe);
    if (code === ERROR_BROKEN_PIPE || code === WinError.NO_DATA) return undefined;
    throw new Win32Error('ReadFile', code);
  }
  return read[0] ? buf.subarray(0, read[0]) : Buffer.alloc(0);
}

/** Writes all of `data`. */
export async function writeAll(pipe: Handle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const written = [0];
    const part = data.subarray(off);
    if (!(await WriteFileAsync(pipe.value, part, part.length, written, null))) {
      throw new Win32Error('WriteFile', pipeState(pipe));
    }
    off += written[0];
  }
}

/**
 * Why an I/O call on a worker thread failed. koffi keeps GetLastError per thread, and the failed call ran on a
 * worker, so the pipe is asked again from this thread: a broken pipe reports itself to PeekNamedPipe too.
 */
function pipeState(pipe: Handle): number {
  if (pipe.closed) return WinError.INVALID_HANDLE;
  if (PeekNamedPipe(pipe.value, null, 0, null, [0], null)) return WinError.INVALID_FUNCTION;
  return lastError();
}

/** True when the client end is gone (checked without reading). */
export function peerClosed(pipe: Handle): boolean {
  const code = pipeState(pipe);
  return code === ERROR_BROKEN_PIPE || code === WinError.NO_DATA || code === WinError.INVALID_HANDLE;
}
