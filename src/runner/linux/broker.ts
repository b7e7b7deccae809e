/**
 * Broker mode of the Linux runner: a sandboxed process that spawns commands on request. Each command gets the
 * stdio sockets sent with its request, its own session (so its process group can be killed), and a marker
 * variable; when it ends or is killed, its group and every process still carrying its marker are killed.
 * Children inherit the runner's Landlock domain, seccomp filter and namespaces.
 */
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import { startCommand } from './command';
import { COMMAND_MARKER, type FromRunner, type ToRunner } from '../../protocol/linux';

interface Live {
  pid: number | undefined;
}

export function serveBroker(send: (m: FromRunner) => void): void {
  const stdio = new Map<number, Socket[]>();
  const live = new Map<number, Live>();
  process.on('message', (msg: ToRunner, handle?: Socket) => {
    switch (msg.type) {
      case 'stdio':
        if (handle) (stdio.get(msg.id) ?? stdio.set(msg.id, []).get(msg.id)!)[msg.index] = handle;
        break;
      case 'spawn':
        spawnOne(msg.command.id, msg, stdio.get(msg.command.id) ?? [], live, send);
        stdio.delete(msg.command.id);
        break;
      case 'kill':
        killCommand(msg.id, live.get(msg.id)?.pid);
        break;
    }
  });
}

function spawnOne(
  id: number,
  msg: Extract<ToRunner, { type: 'spawn' }>,
  sockets: Socket[],
  live: Map<number, Live>,
  send: (m: FromRunner) => void,
): void {
  const env = { ...msg.command.env, [COMMAND_MARKER]: String(id) };
  const errSock = sockets[2];
  const { child, ended } = startCommand(
    { ...msg.command, env },
    [sockets[0] ?? 'ignore', sockets[1] ?? 'ignore', errSock ?? 'ignore'],
    true,
    (s) => errSock?.write(s),
  );
  live.set(id, { pid: child?.pid });
  // The child holds its own copies now; ours must go before anything else is read from them.
  for (const s of sockets) if (s !== errSock) s.destroy();
  send({ type: 'started', id });
  void ended.then((end) => {
    killCommand(id, child?.pid);
    live.delete(id);
    errSock?.destroy();
    send({ type: 'exit', id, ...end });
  });
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
