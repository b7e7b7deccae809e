/**
 * Named pipes for child stdio and IPC. The server end is created here with an explicit DACL (CreateNamedPipeW,
 * first instance only, local clients only); Node's `net` connects as the client, so reads and writes never block
 * the event loop. The server handle is what the child inherits. Must never create a pipe without a DACL.
 */
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { checkHandle, lastError, Win32Error, WinError } from './errors';
import { Handle } from './handle';
import { lazyFn } from './lib';
import { SecurityDescriptor } from './acl';
import { declareStructs } from './structs';

const CreateNamedPipeW = lazyFn(
  'kernel32.dll',
  'void *CreateNamedPipeW(str16 name, uint32 openMode, uint32 pipeMode, ' +
    'uint32 maxInstances, uint32 outSize, uint32 inSize, uint32 timeout, void *sa)',
  declareStructs,
);
const ConnectNamedPipe = lazyFn('kernel32.dll', 'bool ConnectNamedPipe(void *pipe, void *overlapped)');

const PIPE_ACCESS_DUPLEX = 0x3;
const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x80000;
const PIPE_REJECT_REMOTE_CLIENTS = 0x8;
const BUFFER_SIZE = 64 * 1024;

/** `\\.\pipe\agent-sandbox-<prefix>-<128 random bits>`: unguessable, never derived from a pid. */
export function uniquePipeName(prefix: string): string {
  return `\\\\.\\pipe\\agent-sandbox-${prefix}-${randomBytes(16).toString('hex')}`;
}

/** SDDL for a pipe only the given SIDs may open: protected DACL, FILE_ALL_ACCESS each, nothing for anyone else. */
export function pipeSddl(allowSids: string[]): string {
  return `D:P${allowSids.map((s) => `(A;;FA;;;${s})`).join('')}`;
}

/** CreateNamedPipeW: one synchronous byte-mode instance protected by `sddl`. */
export function createPipeServer(name: string, sddl: string): Handle {
  const sd = SecurityDescriptor.fromSddl(sddl);
  try {
    const h = CreateNamedPipeW(
      name,
      PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
      PIPE_REJECT_REMOTE_CLIENTS,
      1,
      BUFFER_SIZE,
      BUFFER_SIZE,
      0,
      sd.securityAttributes(false),
    );
    return new Handle(checkHandle('CreateNamedPipeW', h, name), 'pipe');
  } finally {
    sd.close();
  }
}

/** Confirms a client is connected to `server` (ConnectNamedPipe returns ERROR_PIPE_CONNECTED once it is). */
export function confirmConnected(server: Handle): void {
  if (ConnectNamedPipe(server.value, null)) return;
  const code = lastError();
  if (code !== WinError.PIPE_CONNECTED) throw new Win32Error('ConnectNamedPipe', code);
}

/** Connects Node to a pipe as a client. */
export function connectClient(name: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(name);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** A pipe whose server end goes to a child (or a pseudoconsole) and whose client end Node reads and writes. */
export interface PipePair {
  /** The end handed to the child; close our copy once the child has it. */
  server: Handle;
  /** Node's end. */
  socket: net.Socket;
}

/** Creates a pipe with `sddl` and connects Node to it. */
export async function createPipePair(prefix: string, sddl: string): Promise<PipePair> {
  const name = uniquePipeName(prefix);
  const server = createPipeServer(name, sddl);
  try {
    const socket = await connectClient(name);
    confirmConnected(server);
    return { server, socket };
  } catch (e) {
    server.close();
    throw e;
  }
}
