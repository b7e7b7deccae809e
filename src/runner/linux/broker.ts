/**
 * Broker mode of the Linux runner: a sandboxed process that spawns commands on request. Each command gets the
 * stdio sockets sent with its request (or the caller's own descriptors, from the descriptor channel), its own session (so its process group can be killed), a marker variable,
 * and its own Landlock domain and PID namespace (isolate.ts), so commands cannot touch each other; when it ends
 * or is killed, its namespace dies, and its group and every process still carrying its marker are killed too.
 * Children inherit the runner's Landlock domain (nested), seccomp filter and namespaces.
 */
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import type { Ended } from './command';
import { spawnIsolated, startSpares, type Place } from './isolate';
import { recvFds } from '../../../native-bindings/linux/socket';
import { closeFd } from '../../../native-bindings/linux/libc';
import { COMMAND_MARKER, FD_CHANNEL, type FromRunner, type RunnerSandbox, type ToRunner } from '../../protocol/linux';

interface Live {
  pid: number | undefined;
}

/** Commands served so far (reported with each start, for `agent-sandbox broker status`). */
let served = 0;

export function serveBroker(send: (m: FromRunner) => void, sandbox: RunnerSandbox, landlockAbi: number): void {
  const stdio = new Map<number, Socket[]>();
  const live = new Map<number, Live>();
  /** Commands waiting for the host to move their thread into their cgroup. */
  const placing = new Map<number, (error: string | undefined) => void>();
  startSpares(sandbox, landlockAbi);
  process.on('message', (msg: ToRunner, handle?: Socket) => {
    switch (msg.type) {
      case 'stdio':
        if (handle) (stdio.get(msg.id) ?? stdio.set(msg.id, []).get(msg.id)!)[msg.index] = handle;
        break;
      case 'spawn': {
        const id = msg.command.id;
        const place: Place | undefined = msg.place
          ? (tid) =>
              new Promise((resolve) => {
                placing.set(id, resolve);
                send({ type: 'place', id, tid, pid: process.pid, pidNs: fs.readlinkSync('/proc/self/ns/pid') });
              })
          : undefined;
        if (msg.fds) void spawnOnFds(msg, live, send, place);
        else void spawnOne(id, msg, stdio.get(id) ?? [], live, send, place);
        stdio.delete(id);
        break;
      }
      case 'placed':
        placing.get(msg.id)?.(msg.error);
        placing.delete(msg.id);
        break;
      case 'kill':
        killCommand(msg.id, live.get(msg.id)?.pid);
        live.delete(msg.id);
        break;
    }
  });
}

async function spawnOne(
  id: number,
  msg: Extract<ToRunner, { type: 'spawn' }>,
  sockets: Socket[],
  live: Map<number, Live>,
  send: (m: FromRunner) => void,
  place: Place | undefined,
): Promise<void> {
  const env = { ...msg.command.env, [COMMAND_MARKER]: String(id) };
  const errSock = sockets[2];
  const entry: Live = { pid: undefined };
  live.set(id, entry);
  const fallbacks: number[] = [];
  const { pid, ended } = await spawnIsolated(
    { ...msg.command, env },
    [0, 1, 2].map((i) => fdOf(sockets[i], fallbacks)),
    place,
  );
  entry.pid = pid;
  // The child holds its own copies now; ours must go before anything else is read from them (and the /dev/null
  // stand-ins too: a session-long broker would otherwise keep one per such command).
  for (const s of sockets) if (s !== errSock) s.destroy();
  for (const fd of fallbacks) fs.closeSync(fd);
  send({ type: 'started', id, served: ++served });
  if (!live.has(id)) killCommand(id, pid); // killed while it was starting
  void ended.then((end) => {
    killCommand(id, pid);
    live.delete(id);
    errSock?.destroy();
    send({ type: 'exit', id, ...end });
  });
}

/**
 * Starts a command on the descriptors passed for it on FD_CHANNEL (sent before its request, so already there).
 * Packets for other ids (left by a request that never came) are dropped, their descriptors closed. Without its
 * descriptors the command is not started: it ends 125, without a message (there is no stderr of the caller to write
 * it to; the call reports 125, "the sandbox could not be applied").
 */
async function spawnOnFds(
  msg: Extract<ToRunner, { type: 'spawn' }>,
  live: Map<number, Live>,
  send: (m: FromRunner) => void,
  place: Place | undefined,
): Promise<void> {
  const id = msg.command.id;
  let fds: number[] | undefined;
  try {
    for (;;) {
      const got = recvFds(FD_CHANNEL, 4, 3);
      if (got.data.length === 4 && got.data.readUInt32LE(0) === id && got.fds.length === 3) {
        fds = got.fds;
        break;
      }
      for (const fd of got.fds) closeFd(fd);
    }
  } catch {
    send({ type: 'started', id, served });
    send({ type: 'exit', id, code: 125 });
    return;
  }
  const entry: Live = { pid: undefined };
  live.set(id, entry);
  let pid: number | undefined;
  let ended: Promise<Ended>;
  try {
    ({ pid, ended } = await spawnIsolated(
      { ...msg.command, env: { ...msg.command.env, [COMMAND_MARKER]: String(id) } },
      fds,
      place,
    ));
  } finally {
    for (const fd of fds) closeFd(fd); // the command holds its own copies
  }
  entry.pid = pid;
  send({ type: 'started', id, served: ++served });
  if (!live.has(id)) killCommand(id, pid); // killed while it was starting
  void ended.then((end) => {
    killCommand(id, pid);
    live.delete(id);
    send({ type: 'exit', id, ...end });
  });
}

/**
 * The descriptor behind a received socket, or, when the request came without one, a /dev/null opened for it and
 * added to `opened` (the caller closes those once the command holds its copies).
 */
function fdOf(s: Socket | undefined, opened: number[]): number {
  const fd = (s as unknown as { _handle?: { fd?: number } } | undefined)?._handle?.fd;
  if (typeof fd === 'number' && fd >= 0) return fd;
  opened.push(fs.openSync('/dev/null', 'r+'));
  return opened[opened.length - 1];
}

/** Kills the command's process group and every process still marked as belonging to it. */
function killCommand(id: number, pid: number | undefined): void {
  if (pid) tryKill(-pid);
  const marker = `\0${COMMAND_MARKER}=${id}\0`;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let environ: string;
    try {
      environ = '\0' + fs.readFileSync(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue;
    }
    if (environ.includes(marker)) tryKill(Number(entry));
  }
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
