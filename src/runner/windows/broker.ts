/**
 * The runner's side of the broker protocol: reads requests from one stream, writes events to another, and runs
 * each `spawn` through a Launcher (a restricted token in a kill-on-close job). When the request stream ends, the
 * caller is gone: every command is killed and the broker returns. Must never run a request it could not fully
 * validate; a protocol error ends the session.
 */
import type { Readable, Writable } from 'node:stream';
import {
  encodeFrame,
  FrameDecoder,
  OUTPUT_CHUNK,
  PROTOCOL_VERSION,
  Request,
  type Event,
  type SpawnRequest,
} from '../../protocol/windows';

export interface LaunchedCommand {
  stdin: Writable | null;
  stdout: Readable;
  stderr: Readable | null;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** Kills the whole tree. Idempotent. */
  kill(): void;
  resize?(cols: number, rows: number): void;
}

export type Launcher = (req: SpawnRequest) => Promise<LaunchedCommand>;

/** `uiGaps`: what the runner cannot isolate for any of its commands (sent once, in the ready message). */
export async function serveBroker(
  requests: Readable,
  events: Writable,
  launch: Launcher,
  uiGaps: string[] = [],
): Promise<void> {
  const running = new Map<number, LaunchedCommand>();
  const send = (e: Event) => {
    if (!events.destroyed) events.write(encodeFrame(e));
  };
  send({ type: 'ready', pid: process.pid, version: PROTOCOL_VERSION, ...(uiGaps.length ? { uiGaps } : {}) });
  const decoder = new FrameDecoder(Request);
  try {
    for await (const chunk of requests) {
      for (const req of decoder.push(chunk as Buffer)) await handle(req, running, send, launch);
    }
    decoder.end();
  } catch (e) {
    send({ type: 'error', code: 'protocol', message: (e as Error).message });
  } finally {
    for (const cmd of running.values()) cmd.kill();
    await Promise.allSettled([...running.values()].map((c) => c.exited));
    await new Promise<void>((r) => events.end(r));
  }
}

async function handle(req: Request, running: Map<number, LaunchedCommand>, send: (e: Event) => void, launch: Launcher) {
  const cmd = running.get(req.id);
  switch (req.type) {
    case 'spawn':
      if (cmd)
        return send({
          type: 'error',
          id: req.id,
          code: 'duplicate-id',
          message: `command ${req.id} is already running`,
        });
      return start(req, running, send, launch);
    case 'stdin':
      if (!cmd?.stdin) return;
      if (req.data) cmd.stdin.write(Buffer.from(req.data, 'base64'));
      if (req.eof) cmd.stdin.end();
      return;
    case 'resize':
      return cmd?.resize?.(req.cols, req.rows);
    case 'terminate':
      return cmd?.kill();
  }
}

async function start(
  req: SpawnRequest,
  running: Map<number, LaunchedCommand>,
  send: (e: Event) => void,
  launch: Launcher,
) {
  let cmd: LaunchedCommand;
  try {
    cmd = await launch(req);
  } catch (e) {
    return send({ type: 'error', id: req.id, code: 'spawn-failed', message: (e as Error).message });
  }
  running.set(req.id, cmd);
  const pump = (stream: Readable | null, name: 'stdout' | 'stderr') =>
    stream
      ? new Promise<void>((resolve) => {
          stream.on('data', (b: Buffer) => {
            for (let off = 0; off < b.length; off += OUTPUT_CHUNK) {
              send({
                type: 'output',
                id: req.id,
                stream: name,
                data: b.subarray(off, off + OUTPUT_CHUNK).toString('base64'),
              });
            }
          });
          stream.once('close', resolve);
          stream.once('end', resolve);
          stream.once('error', () => resolve());
        })
      : Promise.resolve();
  cmd.stdin?.on('error', () => undefined);
  const pumps = Promise.all([pump(cmd.stdout, 'stdout'), pump(cmd.stderr, 'stderr')]);
  void (async () => {
    let code: number;
    try {
      code = await cmd.exited;
    } catch {
      code = 125;
    }
    // Output still in the pipes is forwarded first; a grandchild holding them open cannot stall the exit event.
    await Promise.race([pumps, delay(2000)]);
    running.delete(req.id);
    send({ type: 'exit', id: req.id, code });
  })();
}

function delay(ms: number) {
  return new Promise((r) => setTimeout(r, ms).unref());
}
