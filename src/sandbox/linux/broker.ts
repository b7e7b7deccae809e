/**
 * A long-lived sandboxed runner for one plan: it applies the sandbox once and spawns each command on request, so
 * a brokered command costs about one fork+exec. Each command's stdio is a fresh socketpair whose far ends are
 * passed to the broker over its IPC channel (no filesystem socket the sandbox could reach). `close()` kills the
 * broker's namespace and with it every command it started; it is idempotent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { socketPair } from '../../../native-bindings/linux/socket';
import type { LinuxPlan } from '../../policy/plan';
import type { Applied, FromRunner, ToRunner } from '../../protocol/linux';
import { SandboxError, SandboxErrorCode } from '../../errors';
import type { ExitInfo, SandboxProcess, SpawnSpec } from '../types';
import { appliedEnforcement } from './enforcement';
import { bwrapLaunch, commandRequest, runnerSandbox } from './launch';
import { Lifetime } from '../lifetime';

interface Pending {
  started: () => void;
  exit: (m: Extract<FromRunner, { type: 'exit' }>) => void;
}

export class Broker {
  private child: ChildProcess | undefined;
  private ready: Promise<Applied> | undefined;
  private readonly pending = new Map<number, Pending>();
  private stderr = '';
  private closed = false;
  /** Commands this broker has started, as its runner counts them. */
  served = 0;
  /** Set when the runner refused to serve because commands could not be kept apart (run them cold instead). */
  isolationUnavailable = false;

  constructor(
    private readonly bwrap: string,
    private readonly plan: LinuxPlan,
  ) {}

  /** False once the broker has exited or was closed; a new one is then started for the plan. */
  get alive(): boolean {
    return !this.closed;
  }

  /** Starts the broker (once) and resolves with what its sandbox applied. */
  start(): Promise<Applied> {
    this.ready ??= new Promise<Applied>((resolve, reject) => {
      const launch = bwrapLaunch(this.bwrap, this.plan, { cwd: '/', tty: false });
      const child = spawn(launch.bwrap, launch.args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: launch.env });
      this.child = child;
      child.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
      child.on('message', (m: FromRunner) => {
        if (m.type === 'applied') resolve(m);
        else if (m.type === 'failed') {
          this.isolationUnavailable = m.code === 'broker-failed';
          reject(new SandboxError(m.code, `${m.message} Nothing was run.`, m.fix));
        } else if (m.type === 'started') {
          this.served = m.served ?? this.served + 1;
          this.pending.get(m.id)?.started();
        }
        else if (m.type === 'exit') this.pending.get(m.id)?.exit(m);
      });
      child.once('exit', (code, signal) => {
        this.closed = true;
        reject(new SandboxError(SandboxErrorCode.BrokerFailed,
          `The sandbox broker exited (${signal ?? `exit ${code}`}) before it was ready: ${this.stderr.trim()}`,
          'Run `agent-sandbox run -- true` to check the sandbox on this machine.'));
        for (const [id, p] of this.pending) p.exit({ type: 'exit', id, code: 137, signal: 'SIGKILL' });
        this.pending.clear();
      });
      child.send({ type: 'broker', sandbox: runnerSandbox(this.plan) } satisfies ToRunner);
    });
    return this.ready;
  }

  async spawn(spec: SpawnSpec): Promise<SandboxProcess> {
    const applied = await this.start();
    const child = this.child;
    if (this.closed || !child?.connected) {
      throw new SandboxError(SandboxErrorCode.BrokerFailed, 'The sandbox broker is gone; nothing was run.',
        'Retry; a new broker is started for the next command.');
    }
    const req = commandRequest(this.plan, spec.argv, spec.cwd, spec.env);
    const { ours, theirs } = this.sendStdio(child, req.id);
    // Our copies of the far ends go once the broker holds its own (explicitly: Node's close-after-ack is not
    // reliable for several handles in a row, and a lingering copy would keep the command's stdout open).
    const dropTheirs = () => theirs.forEach((s) => s.destroy());
    const lifetime = new Lifetime(spec, () => this.send({ type: 'kill', id: req.id }));
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const exited = new Promise<ExitInfo>((done) => {
      this.pending.set(req.id, {
        started: () => {
          dropTheirs();
          markStarted();
        },
        exit: (m) => {
          this.pending.delete(req.id);
          ours[0].destroy(); // a write-only socket never sees its peer close; nothing can read it any more
          dropTheirs();
          markStarted();
          done(lifetime.finish(m.code, m.signal));
        },
      });
    });
    this.send({ type: 'spawn', command: req });
    await started;
    lifetime.arm();
    return { stdin: ours[0], stdout: ours[1], stderr: ours[2], exited, kill: () => lifetime.kill(),
      enforcement: appliedEnforcement(this.plan, applied) };
  }

  /** Creates the command's three socketpairs and sends the far ends; returns both sides. */
  private sendStdio(child: ChildProcess, id: number): { ours: Socket[]; theirs: Socket[] } {
    const ours: Socket[] = [];
    const theirs: Socket[] = [];
    for (const index of [0, 1, 2] as const) {
      const [near, far] = socketPair();
      ours.push(new Socket({ fd: near, readable: index !== 0, writable: index === 0 }));
      theirs.push(new Socket({ fd: far, readable: false, writable: false }));
      child.send({ type: 'stdio', id, index } satisfies ToRunner, theirs[index], { keepOpen: true });
    }
    // Writing to a command that has already exited fails with EPIPE; that is its exit, not our error.
    ours[0].on('error', () => undefined);
    return { ours, theirs };
  }

  private send(m: ToRunner): void {
    if (this.child?.connected) this.child.send(m);
  }

  /** Kills the broker and everything it started. Idempotent. */
  close(): Promise<void> {
    const child = this.child;
    this.closed = true;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
