/**
 * Named pipes whose both ends are ours, as full-duplex Node streams: the channel of the CLI's warm broker on
 * Windows. Node's `net` cannot give a pipe a DACL, nor tell who is on the other end, so both ends are opened here:
 * the server's instances with CreateNamedPipeW (an explicit DACL, FILE_FLAG_FIRST_PIPE_INSTANCE for the first so
 * nobody can own the name before us, PIPE_REJECT_REMOTE_CLIENTS), the client's with CreateFileW (SECURITY_SQOS_PRESENT
 * at identification level, so a server can never act as the client). I/O is overlapped: each operation waits on its
 * own event through RegisterWaitForSingleObject (wait.ts), so no libuv pool thread is held however many connections
 * are open, and a read and a write can be in flight on one handle at once.
 *
 * Also who is on the other end: the process id (GetNamedPipeClientProcessId / GetNamedPipeServerProcessId) and that
 * process's token (user SID, restricted or not, AppContainer or not). Must never create a pipe without a DACL, and
 * never free an OVERLAPPED or buffer while an operation on it may still complete.
 */
import { Duplex } from 'node:stream';
import { checkBool, checkHandle, lastError, Win32Error, WinError } from './errors';
import { Handle } from './handle';
import { koffi, lazyFn, type Pointer } from './lib';
import { SecurityDescriptor } from './acl';
import { declareStructs } from './structs';
import { tokenInformation, tokenUserSid } from './token';
import { waitForSignal } from './wait';

const CreateNamedPipeW = lazyFn(
  'kernel32.dll',
  'void *CreateNamedPipeW(str16 name, uint32 openMode, uint32 pipeMode, ' +
    'uint32 maxInstances, uint32 outSize, uint32 inSize, uint32 timeout, void *sa)',
  declareStructs,
);
const CreateFileW = lazyFn(
  'kernel32.dll',
  'void *CreateFileW(str16 name, uint32 access, uint32 share, void *sa, uint32 disposition, uint32 flags, void *tpl)',
);
const WaitNamedPipeW = lazyFn('kernel32.dll', 'bool WaitNamedPipeW(str16 name, uint32 ms)');
const CreateEventW = lazyFn('kernel32.dll', 'void *CreateEventW(void *sa, bool manual, bool initial, void *name)');
const ConnectNamedPipe = lazyFn('kernel32.dll', 'bool ConnectNamedPipe(void *pipe, void *overlapped)');
const ReadFile = lazyFn('kernel32.dll', 'bool ReadFile(void *h, void *buf, uint32 size, void *done, void *ov)');
const WriteFile = lazyFn('kernel32.dll', 'bool WriteFile(void *h, void *buf, uint32 size, void *done, void *ov)');
const GetOverlappedResult = lazyFn(
  'kernel32.dll',
  'bool GetOverlappedResult(void *h, void *ov, _Out_ uint32 *done, bool wait)',
);
const CancelIoEx = lazyFn('kernel32.dll', 'bool CancelIoEx(void *h, void *ov)');
const GetNamedPipeClientProcessId = lazyFn(
  'kernel32.dll',
  'bool GetNamedPipeClientProcessId(void *pipe, _Out_ uint32 *pid)',
);
const GetNamedPipeServerProcessId = lazyFn(
  'kernel32.dll',
  'bool GetNamedPipeServerProcessId(void *pipe, _Out_ uint32 *pid)',
);
const GetNamedPipeInfo = lazyFn(
  'kernel32.dll',
  'bool GetNamedPipeInfo(void *pipe, _Out_ uint32 *flags, void *outSize, void *inSize, void *maxInstances)',
);
const OpenProcess = lazyFn('kernel32.dll', 'void *OpenProcess(uint32 access, bool inherit, uint32 pid)');
const OpenProcessToken = lazyFn(
  'advapi32.dll',
  'bool OpenProcessToken(void *process, uint32 access, _Out_ void **token)',
);
const IsTokenRestricted = lazyFn('advapi32.dll', 'bool IsTokenRestricted(void *token)');

const PIPE_ACCESS_DUPLEX = 0x3;
const FILE_FLAG_OVERLAPPED = 0x40000000;
const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x80000;
/** PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT are all 0. */
export const PIPE_REJECT_REMOTE_CLIENTS = 0x8;
const PIPE_UNLIMITED_INSTANCES = 255;
const GENERIC_READ = 0x80000000;
const GENERIC_WRITE = 0x40000000;
const OPEN_EXISTING = 3;
const SECURITY_SQOS_PRESENT = 0x100000;
const SECURITY_IDENTIFICATION = 0x10000;
const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
const TOKEN_QUERY = 0x8;
const TOKEN_IS_APP_CONTAINER = 29;
const PIPE_SERVER_END = 0x1;
const ERROR_BROKEN_PIPE = 109;
const ERROR_PIPE_NOT_CONNECTED = 233;
const ERROR_OPERATION_ABORTED = 995;
const BUFFER_SIZE = 64 * 1024;
/** x64 OVERLAPPED: Internal, InternalHigh, Offset, OffsetHigh, hEvent. */
const OVERLAPPED_SIZE = 32;
const OVERLAPPED_EVENT = 24;

/** One OVERLAPPED with its own manual-reset event and data buffer, in native memory that never moves. */
class Operation {
  readonly event: Handle;
  readonly overlapped: unknown;
  readonly buffer: unknown;
  private freed = false;

  constructor(readonly size: number) {
    this.event = new Handle(checkHandle('CreateEventW', CreateEventW(null, true, false, null)), 'event');
    this.overlapped = koffi().alloc('uint8_t', OVERLAPPED_SIZE);
    this.buffer = size ? koffi().alloc('uint8_t', size) : null;
  }

  /** Zeroes the OVERLAPPED (as each new operation needs) and points it at the event. */
  reset(): unknown {
    const view = new DataView(koffi().view(this.overlapped, OVERLAPPED_SIZE));
    for (let i = 0; i < OVERLAPPED_SIZE; i += 8) view.setBigUint64(i, 0n, true);
    view.setBigUint64(OVERLAPPED_EVENT, this.event.value, true);
    return this.overlapped;
  }

  bytes(n: number): Uint8Array {
    return new Uint8Array(koffi().view(this.buffer, n));
  }

  /** Waits for the operation started with `started` (the call's result) and returns the bytes it moved. */
  async finish(h: bigint, api: string, started: unknown): Promise<number> {
    if (!started) {
      const code = lastError();
      if (code !== WinError.IO_PENDING) throw new Win32Error(api, code);
      await waitForSignal(this.event.value);
    }
    const done = [0];
    if (!GetOverlappedResult(h, this.overlapped, done, false)) throw new Win32Error(api, lastError());
    return done[0];
  }

  /** Only once no operation on it can still complete. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    koffi().free(this.overlapped);
    if (this.buffer) koffi().free(this.buffer);
    this.event.close();
  }
}

/** True for the codes that mean the other end is gone (or we cancelled): end of stream, not an error. */
function isEnd(e: unknown): boolean {
  return (
    e instanceof Win32Error &&
    [ERROR_BROKEN_PIPE, ERROR_PIPE_NOT_CONNECTED, WinError.NO_DATA, ERROR_OPERATION_ABORTED].includes(e.code)
  );
}

/**
 * A connected pipe handle (either end) as a Node Duplex. Ending it closes the handle once everything written has
 * reached the pipe (what is still buffered stays readable by the other end); destroying it cancels what is in
 * flight first.
 */
export class PipeStream extends Duplex {
  private readonly reader = new Operation(BUFFER_SIZE);
  private readonly writer = new Operation(BUFFER_SIZE);
  private reading = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(readonly handle: Handle) {
    super({ allowHalfOpen: false });
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const untrack = () => this.inFlight.delete(p);
    p.then(untrack, untrack);
    return p;
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      while (!this.destroyed) {
        const h = this.handle.value;
        const n = await this.track(
          this.reader.finish(h, 'ReadFile', ReadFile(h, this.reader.buffer, BUFFER_SIZE, null, this.reader.reset())),
        );
        if (this.destroyed) return;
        if (n && !this.push(Buffer.from(this.reader.bytes(n)))) break; // copied out: the buffer is reused
      }
    } catch (e) {
      if (this.destroyed) return;
      if (isEnd(e)) this.push(null);
      else this.destroy(e as Error);
    }
    this.reading = false;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    void this.writeAll(chunk).then(
      () => callback(),
      (e: Error) => callback(e),
    );
  }

  private async writeAll(data: Buffer): Promise<void> {
    for (let off = 0; off < data.length;) {
      const part = data.subarray(off, off + BUFFER_SIZE);
      this.writer.bytes(part.length).set(part);
      const h = this.handle.value;
      off += await this.track(
        this.writer.finish(h, 'WriteFile', WriteFile(h, this.writer.buffer, part.length, null, this.writer.reset())),
      );
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback();
    setImmediate(() => this.destroy());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.handle.closed) CancelIoEx(this.handle.value, null);
    void Promise.allSettled([...this.inFlight]).then(() => {
      this.handle.close();
      this.reader.free();
      this.writer.free();
      callback(error);
    });
  }
}

/** Creates one overlapped, byte-mode, local-only server instance of `name` protected by `sd`. */
function createInstance(name: string, sd: SecurityDescriptor, first: boolean): Handle {
  const h = CreateNamedPipeW(
    name,
    PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
    PIPE_REJECT_REMOTE_CLIENTS,
    PIPE_UNLIMITED_INSTANCES,
    BUFFER_SIZE,
    BUFFER_SIZE,
    0,
    sd.securityAttributes(false),
  );
  return new Handle(checkHandle('CreateNamedPipeW', h, name), 'pipe');
}

/**
 * A pipe server: always one instance waiting for a client, each connected instance handed to `onConnection`.
 * Creating it throws Win32Error (ERROR_ACCESS_DENIED, or ERROR_PIPE_BUSY) when the name already exists, whoever
 * made it: the first instance is what fixes the pipe's DACL, so we never join someone else's pipe.
 */
export class PipeServer {
  private readonly sd: SecurityDescriptor;
  private waiting: { pipe: Handle; op: Operation } | undefined;
  private closed = false;
  private readonly loop: Promise<void>;
  /** Why the server stopped waiting for clients on its own (it then has no instance left), if it did. */
  failure: Error | undefined;

  constructor(
    readonly name: string,
    readonly sddl: string,
    private readonly onConnection: (conn: PipeStream) => void,
    private readonly onError: (e: Error) => void = () => undefined,
  ) {
    this.sd = SecurityDescriptor.fromSddl(sddl);
    let first: Handle;
    try {
      first = createInstance(name, this.sd, true);
    } catch (e) {
      this.sd.close();
      throw e;
    }
    this.loop = this.accept(first).catch((e: Error) => {
      if (this.closed) return;
      this.failure = e;
      this.onError(e);
    });
  }

  /** The first instance's handle while it waits (for reading its DACL back); undefined once none waits. */
  get listeningHandle(): Handle | undefined {
    return this.waiting?.pipe;
  }

  private async accept(first: Handle): Promise<void> {
    let pipe = first;
    while (!this.closed) {
      const op = new Operation(0);
      this.waiting = { pipe, op };
      let connected = false;
      try {
        const h = pipe.value;
        const started = ConnectNamedPipe(h, op.reset());
        if (started || lastError() !== WinError.PIPE_CONNECTED) await op.finish(h, 'ConnectNamedPipe', started);
        connected = !this.closed;
      } catch (e) {
        // a client that connected and left before we looked: wait on a fresh instance
        if (!(e instanceof Win32Error && e.code === WinError.NO_DATA)) throw e;
      } finally {
        this.waiting = undefined;
        op.free();
        if (!connected) pipe.close();
      }
      if (connected) this.onConnection(new PipeStream(pipe));
      if (this.closed) return;
      pipe = createInstance(this.name, this.sd, false);
    }
  }

  /** Stops waiting for clients (connections already handed out stay open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.waiting;
    if (w && !w.pipe.closed) CancelIoEx(w.pipe.value, null);
    await this.loop;
    this.sd.close();
  }
}

/**
 * Connects to the pipe `name` as a client. Resolves undefined when there is no such pipe (nobody listens), and
 * rejects with the Win32Error otherwise; a busy pipe is waited for up to `busyMs`.
 */
export async function connectPipe(name: string, busyMs = 2000): Promise<PipeStream | undefined> {
  const deadline = Date.now() + busyMs;
  for (;;) {
    const h = CreateFileW(
      name,
      GENERIC_READ | GENERIC_WRITE,
      0,
      null,
      OPEN_EXISTING,
      FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
      null,
    ) as Pointer;
    if (h !== null && h !== -1n && h !== 0xffffffffffffffffn) return new PipeStream(new Handle(h, 'pipe'));
    const code = lastError();
    if (code === WinError.FILE_NOT_FOUND) return undefined;
    if (code !== WinError.PIPE_BUSY || Date.now() > deadline) throw new Win32Error('CreateFileW', code, name);
    WaitNamedPipeW(name, 50);
  }
}

/** The process id of the client connected to a server instance. */
export function pipeClientPid(pipe: Handle): number {
  const pid = [0];
  checkBool('GetNamedPipeClientProcessId', GetNamedPipeClientProcessId(pipe.value, pid));
  return pid[0];
}

/** The process id of the server a client handle is connected to. */
export function pipeServerPid(pipe: Handle): number {
  const pid = [0];
  checkBool('GetNamedPipeServerProcessId', GetNamedPipeServerProcessId(pipe.value, pid));
  return pid[0];
}

/** True for a server end of a pipe (GetNamedPipeInfo's PIPE_SERVER_END). */
export function isServerEnd(pipe: Handle): boolean {
  const flags = [0];
  checkBool('GetNamedPipeInfo', GetNamedPipeInfo(pipe.value, flags, null, null, null));
  return (flags[0] & PIPE_SERVER_END) !== 0;
}

/** Who a process runs as: its token's user SID, and whether that token is restricted or an AppContainer's. */
export interface ProcessIdentity {
  pid: number;
  userSid: string;
  restricted: boolean;
  appContainer: boolean;
}

/**
 * The identity of process `pid` (OpenProcess → OpenProcessToken). Throws Win32Error when the process cannot be
 * opened or its token read, and the caller refuses the peer: a process we cannot inspect is never trusted.
 */
export function processIdentity(pid: number): ProcessIdentity {
  const process = new Handle(
    checkHandle('OpenProcess', OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, false, pid), `pid ${pid}`),
    'process',
  );
  try {
    const out: Pointer[] = [null];
    checkBool('OpenProcessToken', OpenProcessToken(process.value, TOKEN_QUERY, out), `pid ${pid}`);
    const token = new Handle(out[0] as bigint, 'token');
    try {
      return {
        pid,
        userSid: tokenUserSid(token),
        restricted: Boolean(IsTokenRestricted(token.value)),
        appContainer: tokenInformation(token, TOKEN_IS_APP_CONTAINER).readUInt32LE(0) !== 0,
      };
    } finally {
      token.close();
    }
  } finally {
    process.close();
  }
}
