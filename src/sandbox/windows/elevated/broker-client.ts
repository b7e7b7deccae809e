/**
 * The caller's side of a runner broker. It creates the two broker pipes (requests out, events in) with a DACL
 * that admits only the sandbox account, has the runner started, checks that the process on the other end of both
 * pipes is exactly that runner (GetNamedPipeClientProcessId), and then multiplexes commands over the frames.
 * The event pipe is read only while commands run, so an idle broker parks no worker thread and never keeps a
 * process alive: when the caller exits, its pipe ends close and the runner follows.
 * Must never send a request before the runner's identity is confirmed, and never keep a broker whose stream
 * broke: a dead broker fails its commands and is replaced.
 */
import { PassThrough, Writable } from 'node:stream';
import type { Handle } from '../../../../native-bindings/win32/handle';
import { createPipeServer, pipeSddl, uniquePipeName } from '../../../../native-bindings/win32/pipe';
import {
  clientProcessId,
  peerClosed,
  readChunk,
  waitForClient,
  writeAll,
} from '../../../../native-bindings/win32/pipe-io';
import { SandboxError, SandboxErrorCode } from '../../../errors';
import { Scope } from '../../../scope';
import {
  encodeFrame,
  Event,
  FrameDecoder,
  PROTOCOL_VERSION,
  type Request,
  type SpawnRequest,
} from '../../../protocol/windows';

export interface BrokerPipes {
  requests: string;
  events: string;
}

/** Starts the runner so that it connects to `pipes`; returns its process id (and handle, when we own one). */
export type RunnerLauncher = (pipes: BrokerPipes) => Promise<{ pid: number; process?: Handle }>;

export interface RemoteCommand {
  stdin: Writable;
  stdout: PassThrough;
  stderr: PassThrough;
  /** The command's exit code; 125 when the runner could not start it (the reason is written to stderr). */
  exited: Promise<number>;
  terminate(): void;
  resize(cols: number, rows: number): void;
}

const CONNECT_TIMEOUT_MS = 30_000;

export class BrokerClient {
  private nextId = 1;
  private readonly commands = new Map<number, { cmd: RemoteCommand; done: (code: number) => void }>();
  private writes: Promise<void> = Promise.resolve();
  private deadReason: string | undefined;
  private readonly decoder = new FrameDecoder(Event);
  private reading = false;
  private closed = false;
  /** What the runner reported it cannot isolate for its commands (its job UI limits), from its ready message. */
  uiGaps: string[] = [];

  private constructor(
    private readonly requests: Handle,
    private readonly events: Handle,
    readonly runnerPid: number,
    private readonly runner?: Handle,
  ) {}

  /** Creates the pipes, launches the runner and verifies who connected. */
  static async start(userSid: string, launch: RunnerLauncher, timeoutMs = CONNECT_TIMEOUT_MS): Promise<BrokerClient> {
    const sddl = pipeSddl([userSid]);
    const names = { requests: uniquePipeName('broker-req'), events: uniquePipeName('broker-evt') };
    using scope = new Scope();
    try {
      const requests = scope.use(createPipeServer(names.requests, sddl));
      const events = scope.use(createPipeServer(names.events, sddl));
      const runner = await launch(names);
      scope.use(runner.process);
      await waitForClient(requests, timeoutMs);
      await waitForClient(events, timeoutMs);
      for (const [name, pipe] of [
        ['requests', requests],
        ['events', events],
      ] as const) {
        const pid = clientProcessId(pipe);
        if (pid !== runner.pid) {
          throw brokerError(`the ${name} pipe was opened by process ${pid}, not by the runner (${runner.pid})`);
        }
      }
      const client = new BrokerClient(requests, events, runner.pid, runner.process);
      await client.handshake();
      scope.keep();
      return client;
    } catch (e) {
      throw e instanceof SandboxError ? e : brokerError((e as Error).message, e);
    }
  }

  /** False once the stream failed or the runner is gone (checked without reading). */
  get alive(): boolean {
    if (this.deadReason === undefined && !this.reading && peerClosed(this.events)) this.fail('the runner exited');
    return this.deadReason === undefined;
  }

  /** Sends a spawn request and returns the command's streams. */
  spawn(req: Omit<SpawnRequest, 'type' | 'id'>): RemoteCommand {
    if (this.deadReason) throw brokerError(this.deadReason);
    const id = this.nextId++;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let done!: (code: number) => void;
    const exited = new Promise<number>((r) => (done = r));
    const stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.send({ type: 'stdin', id, data: chunk.toString('base64') });
        cb();
      },
      final: (cb) => {
        this.send({ type: 'stdin', id, eof: true });
        cb();
      },
    });
    const cmd: RemoteCommand = {
      stdin,
      stdout,
      stderr,
      exited,
      terminate: () => this.send({ type: 'terminate', id }),
      resize: (cols, rows) => this.send({ type: 'resize', id, cols, rows }),
    };
    this.commands.set(id, {
      cmd,
      done: (code) => {
        this.commands.delete(id);
        stdout.end();
        stderr.end();
        done(code);
      },
    });
    this.send({ type: 'spawn', id, ...req });
    this.ensureReading();
    return cmd;
  }

  /** Closes the request pipe: the runner kills its commands and exits, which ends the event stream. */
  async close(): Promise<void> {
    this.closed = true;
    await this.writes;
    this.closeRequests();
    if (!this.reading && !this.events.closed) this.events.close();
  }

  private send(req: Request): void {
    const frame = encodeFrame(req);
    this.writes = this.writes
      .then(() => (this.requests.closed ? undefined : writeAll(this.requests, frame)))
      .catch((e) => this.fail(`writing to the runner failed: ${(e as Error).message}`));
  }

  private async handshake(): Promise<void> {
    let pending: Event[] = [];
    while (!pending.length) {
      const chunk = await readChunk(this.events);
      if (!chunk) throw brokerError('the runner exited before it was ready');
      pending = this.decoder.push(chunk);
    }
    const [first, ...rest] = pending;
    if (first.type !== 'ready' || first.pid !== this.runnerPid || first.version !== PROTOCOL_VERSION) {
      throw brokerError(`unexpected first message from the runner: ${JSON.stringify(first)}`);
    }
    if (rest.length) throw brokerError('the runner sent events before any request');
    this.uiGaps = first.uiGaps ?? [];
  }

  /** Reads events while at least one command runs. */
  private ensureReading(): void {
    if (this.reading || !this.commands.size || this.deadReason) return;
    this.reading = true;
    void this.readLoop();
  }

  private async readLoop(): Promise<void> {
    try {
      while (this.commands.size) {
        const chunk = await readChunk(this.events);
        if (!chunk) {
          this.decoder.end();
          this.fail('the runner exited');
          break;
        }
        for (const e of this.decoder.push(chunk)) this.dispatch(e);
      }
    } catch (e) {
      this.fail(`the runner's event stream broke: ${(e as Error).message}`);
    } finally {
      this.reading = false;
      if (this.closed || this.deadReason) this.events.close();
      else this.ensureReading();
    }
  }

  private dispatch(e: Event): void {
    if (e.type === 'ready') return this.fail('the runner announced itself twice');
    if (e.id === undefined) return this.fail(`the runner reported: ${e.type === 'error' ? e.message : e.type}`);
    const entry = this.commands.get(e.id);
    if (!entry) return;
    switch (e.type) {
      case 'output':
        (e.stream === 'stdout' ? entry.cmd.stdout : entry.cmd.stderr).write(Buffer.from(e.data, 'base64'));
        return;
      case 'exit':
        return entry.done(e.code);
      case 'error':
        entry.cmd.stderr.write(`agent-sandbox: the sandbox runner could not start the command: ${e.message}\n`);
        return entry.done(125);
    }
  }

  private fail(reason: string): void {
    const first = this.deadReason === undefined;
    this.deadReason ??= reason;
    for (const { cmd, done } of [...this.commands.values()]) {
      cmd.stderr.write(`agent-sandbox: ${reason}; the command was stopped.\n`);
      done(125);
    }
    // Reported as stopped, so stopped they must be: closing the request pipe (after any write in flight) makes a
    // still-living runner kill its commands and exit, instead of running them on unseen.
    if (first) void this.writes.finally(() => this.closeRequests());
  }

  private closeRequests(): void {
    if (!this.requests.closed) this.requests.close();
    this.runner?.close();
  }
}

function brokerError(message: string, cause?: unknown): SandboxError {
  return new SandboxError(
    SandboxErrorCode.BrokerFailed,
    `The sandbox runner could not be used: ${message}.`,
    'Run "agent-sandbox status"; if setup looks fine, run "agent-sandbox setup" again to refresh the sandbox accounts.',
    { cause },
  );
}
