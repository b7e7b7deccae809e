/**
 * A long-lived sandboxed runner for one plan: it applies the sandbox once and spawns each command on request, so
 * a brokered command costs about one fork+exec. Each command's stdio is a fresh socketpair whose far ends are
 * passed to the broker over its IPC channel (no filesystem socket the sandbox could reach); or, for the CLI's fast
 * client, the caller's own descriptors, passed over a seqpacket channel the runner holds (`FD_CHANNEL`). `close()` kills the
 * broker's namespace and with it every command it started; it is idempotent.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { Socket } from 'node:net';
import { sendFds, socketPair } from '../../../native-bindings/linux/socket';
import { closeFd } from '../../../native-bindings/linux/libc';
import type { LinuxPlan } from '../../policy/plan';
import { FD_CHANNEL, type Applied, type FromRunner, type ToRunner } from '../../protocol/linux';
import { SandboxError, SandboxErrorCode } from '../../errors';
import type { ExitInfo, SandboxProcess, SpawnSpec } from '../types';
import { appliedEnforcement } from './enforcement';
import { MountGuard } from './guard';
import { killSandbox } from './cold';
import { bwrapLaunch, commandRequest, runnerSandbox } from './launch';
import { Lifetime } from '../lifetime';
import { attachUserNet } from './usernet';
import { release, type Registration } from './live';
import { hostPid, hostTid, openLimits, threadsOf, type CommandLimits, type SandboxLimits } from './limits';
import { hideSocketArgs, lateSockets } from './host-sockets';
import { readChainChange, readChainFolders, readChainSnapshot } from './read-chain-watch';
import { prepareHost } from './prepare';
import { openCommandNetwork } from '../../network/command-session';
import { LINUX_RELAY } from '../../policy/proxy-env';
import type { NetworkProxy, ProxyGateway } from '../../network/proxy';

interface Pending {
  started: () => void;
  exit: (m: Extract<FromRunner, { type: 'exit' }>) => void;
  stop: (reason: string) => void;
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
  private registration: Registration | undefined;
  private ending: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private closedNow!: () => void;
  /** Resolves once `close()` has finished (called directly, or by `closeWhenIdle` as the last command ended). */
  readonly whenClosed = new Promise<void>((resolve) => (this.closedNow = resolve));
  /** Commands asked of this broker that have not ended yet (one still starting included). */
  private active = 0;
  /** Set by `closeWhenIdle`: the broker closes as its last command ends. */
  private retiring = false;
  private guard: MountGuard | undefined;
  private limits: SandboxLimits | undefined;
  /** Each running command's own cgroup (where the broker's limits are per command). */
  private readonly commandLimits = new Map<number, CommandLimits>();
  /** The runner's host PID, once a command's placement needed it. */
  private runnerPid: number | undefined;
  /** Host sockets that listened when the broker started but not when its plan was made: hidden, by inode. */
  private lateHidden = new Map<string, number>();
  /** The folders the runner's read rules were built from, and their entries when it started (read-chain-watch). */
  private readonly chainFolders: string[];
  private chainSnapshot = '';
  /** Folders the broker's launch hides besides the plan's (the proxy's socket folder). */
  private hiddenDirs: string[] = [];
  /** Our end of the runner's descriptor channel (FD_CHANNEL), open while the runner lives. */
  private fdChannel: number | undefined;

  /** Allowlist: this broker's gateway to the proxy, shared by its commands (each with its own session). */
  private gateway: ProxyGateway | undefined;

  constructor(
    private readonly bwrap: string,
    private readonly plan: LinuxPlan,
    private readonly stateDir: string,
    private readonly proxy?: () => NetworkProxy,
    /** Extra bwrap mounts hiding host folders (the proxy's sockets), asked when the broker starts. */
    private readonly hide: () => string[] = () => [],
  ) {
    this.chainFolders = readChainFolders(plan);
  }

  /**
   * False once the broker has exited or was closed, or once one of its mounts no longer holds (a protected file
   * replaced on the host); a new one, with fresh binds, is then started for the plan.
   */
  get alive(): boolean {
    return !this.closed && !this.retiring && !this.guard?.changed();
  }

  /** Retired only because its read rules predate a change in the home (nothing breached): its commands run on. */
  get retiredGently(): boolean {
    return this.retiring && !this.closed && !this.guard?.changed();
  }

  /** Starts the broker (once) and resolves with what its sandbox applied. */
  start(): Promise<Applied> {
    this.ready ??= this.openGateway().then(
      (proxyDir) =>
        new Promise<Applied>((resolve, reject) => {
          // Closed while its proxy gateway opened (a dispose, or a retirement): nothing may start or register now.
          if (this.closed) {
            return reject(
              new SandboxError(
                SandboxErrorCode.BrokerFailed,
                'The sandbox broker was closed before it started; nothing was run.',
                'Run the command again.',
              ),
            );
          }
          try {
            this.limits = openLimits(this.plan, true);
          } catch (e) {
            this.closed = true; // the next command starts a new broker
            return reject(e as Error);
          }
          this.registration = prepareHost(this.plan, this.stateDir);
          const hideArgs = this.hide();
          this.hiddenDirs = hideArgs.filter((_a, i) => hideArgs[i - 1] === '--tmpfs');
          try {
            this.guard = new MountGuard(this.plan, { sockets: this.plan, hidden: this.hiddenDirs });
          } catch (e) {
            this.closed = true; // the next command starts a new broker
            void this.endRegistration();
            return reject(e as Error);
          }
          this.guard.onBreach = (reason) => this.breach(reason);
          this.lateHidden = this.guard.sockets;
          // Before bwrap starts: anything changed after this is seen by the next command's check (at worst once too often).
          this.chainSnapshot = readChainSnapshot(this.chainFolders);
          const hide = [...hideArgs, ...hideSocketArgs(this.lateHidden.keys())];
          const launch = bwrapLaunch(this.bwrap, this.plan, { cwd: '/', tty: false, proxyDir, hide });
          const start = this.limits.wrap(launch.bwrap, launch.args);
          const [near, far] = socketPair(true);
          let child: ChildProcess;
          try {
            const stdio: StdioOptions = ['ignore', 'ignore', 'pipe', 'ipc', this.plan.userNet ? 'pipe' : 'ignore'];
            stdio[FD_CHANNEL] = far;
            child = spawn(start.file, start.args, { stdio, env: launch.env });
          } finally {
            closeFd(far); // the runner holds its own copy (as FD_CHANNEL)
          }
          this.fdChannel = near;
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
            } else if (m.type === 'exit') this.pending.get(m.id)?.exit(m);
            else if (m.type === 'place') this.place(m);
          });
          child.once('exit', (code, signal) => {
            this.closed = true;
            this.closeFdChannel();
            void this.endRegistration();
            void this.gateway?.close();
            reject(
              new SandboxError(
                SandboxErrorCode.BrokerFailed,
                `The sandbox broker exited (${signal ?? `exit ${code}`}) before it was ready: ${this.stderr.trim()}`,
                'Run `agent-sandbox run -- true` to check the sandbox on this machine.',
              ),
            );
            for (const [id, p] of this.pending) p.exit({ type: 'exit', id, code: 137, signal: 'SIGKILL' });
            this.pending.clear();
          });
          const configure = () => child.send({ type: 'broker', sandbox: runnerSandbox(this.plan) } satisfies ToRunner);
          if (!this.plan.userNet) configure();
          else {
            attachUserNet(child).then(configure, (e: Error) => {
              reject(e);
              child.kill('SIGKILL');
            });
          }
        }),
    );
    return this.ready;
  }

  private async openGateway(): Promise<string | undefined> {
    if (!this.plan.allowlist) return undefined;
    try {
      if (!this.proxy)
        throw new SandboxError(SandboxErrorCode.Internal, 'An allowlist broker has no proxy.', 'Report this bug.');
      this.gateway = await this.proxy().openGateway('sandbox broker');
    } catch (e) {
      this.closed = true; // the next command starts a new broker
      throw e;
    }
    if (this.closed) await this.gateway.close();
    return this.gateway.dir;
  }

  /**
   * Closes the broker once none of its commands runs (at once when none does); no new command may be asked of it.
   * For a broker whose plan was replaced: its running commands finish under the plan they started with.
   */
  closeWhenIdle(): void {
    this.retiring = true;
    this.closeIfIdle();
  }

  private closeIfIdle(): void {
    if (this.retiring && this.active === 0) void this.close();
  }

  async spawn(spec: SpawnSpec): Promise<SandboxProcess> {
    this.active++;
    const ended = () => {
      this.active--;
      this.closeIfIdle();
    };
    let proc: SandboxProcess;
    try {
      proc = await this.serve(spec);
    } catch (e) {
      ended();
      throw e;
    }
    void proc.exited.then(ended, ended);
    return proc;
  }

  private async serve(spec: SpawnSpec): Promise<SandboxProcess> {
    const applied = await this.start();
    const child = this.child;
    if (this.closed || !child?.connected) {
      throw new SandboxError(
        SandboxErrorCode.BrokerFailed,
        'The sandbox broker is gone; nothing was run.',
        'Retry; a new broker is started for the next command.',
      );
    }
    const stale = readChainChange(this.chainFolders, this.chainSnapshot);
    if (stale && !this.guard?.changed()) {
      // Nothing breached: the running commands finish, new ones go to a broker whose read rules match the home.
      this.closeWhenIdle();
      throw new SandboxError(
        SandboxErrorCode.BrokerFailed,
        `The sandbox broker was retired: ${stale}; nothing was run.`,
        'Retry; a new broker with fresh read rules is started for the next command.',
      );
    }
    const changed = this.guard?.changed() ?? this.newSocket();
    if (changed) {
      void this.close();
      throw new SandboxError(
        SandboxErrorCode.BrokerFailed,
        `The sandbox broker was retired: ${changed}; nothing was run.`,
        'Retry; a new broker with fresh mounts is started for the next command.',
      );
    }
    const net = this.gateway
      ? openCommandNetwork(this.gateway, this.plan, spec.argv, spec.allowDomains, LINUX_RELAY, false)
      : undefined;
    const req = commandRequest(this.plan, spec.argv, spec.cwd, spec.env, net?.env);
    if (spec.stdioFds) {
      try {
        this.sendFds(req.id, spec.stdioFds);
      } catch (e) {
        net?.close();
        throw e;
      }
    }
    const { ours, theirs } = spec.stdioFds ? { ours: [], theirs: [] } : this.sendStdio(child, req.id);
    // Our copies of the far ends go once the broker holds its own (explicitly: Node's close-after-ack is not
    // reliable for several handles in a row, and a lingering copy would keep the command's stdout open).
    const dropTheirs = () => theirs.forEach((s) => s.destroy());
    const lifetime = new Lifetime(spec, () => this.send({ type: 'kill', id: req.id }));
    // Limits are the command's own cgroup's where the broker's hierarchy allows (`place`), else the broker's, shared
    // by its commands (the notes say so): a hit while this one ran is reported with it.
    const limits = this.limits;
    const perCommand = !!limits?.forCommand;
    const before = limits?.counts();
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
          ours[0]?.destroy(); // a write-only socket never sees its peer close; nothing can read it any more
          dropTheirs();
          markStarted();
          net?.close();
          const info = lifetime.finish(m.code, m.signal);
          const own = this.commandLimits.get(req.id);
          this.commandLimits.delete(req.id);
          const hit = own ? own.hitsSince({ pids: 0, oom: 0 }) : limits && before ? limits.hitsSince(before) : [];
          // Its cgroup is gone before its end is reported.
          void (own?.close() ?? Promise.resolve()).then(() => done(hit.length ? { ...info, limitsHit: hit } : info));
        },
        stop: (reason) => lifetime.stop(reason),
      });
    });
    this.send({ type: 'spawn', command: req, place: perCommand, ...(spec.stdioFds ? { fds: true } : {}) });
    await started;
    lifetime.arm();
    return {
      stdin: ours[0] ?? null,
      stdout: ours[1] ?? null,
      stderr: ours[2] ?? null,
      exited,
      kill: () => lifetime.kill(),
      enforcement: appliedEnforcement(this.plan, applied, limits?.notes),
      ...(net ? { networkDenials: () => net.denials() } : {}),
    };
  }

  /** Moves the runner thread about to fork command `m.id` into the command's own new cgroup, and says so. */
  private place(m: Extract<FromRunner, { type: 'place' }>): void {
    let error: string | undefined;
    try {
      this.runnerPid ??= hostPid(m.pidNs, m.pid);
      const runner = this.runnerPid;
      const tid = runner === undefined ? undefined : hostTid(runner, m.tid);
      if (runner === undefined || tid === undefined) throw new Error('the runner thread was not found on the host');
      if (!this.pending.has(m.id)) throw new Error('the command was cancelled');
      this.commandLimits.set(
        m.id,
        this.limits!.forCommand!(m.id, tid, () => threadsOf(runner)),
      );
    } catch (e) {
      error = (e as Error).message;
    }
    this.send({ type: 'placed', id: m.id, error });
  }

  /**
   * A host socket that started listening (or was re-created) since this broker started, reachable through its
   * mounts: the plan predates it, so the broker is retired and the next one hides it.
   */
  private newSocket(): string | undefined {
    for (const [s, ino] of lateSockets(this.plan, undefined, this.hiddenDirs)) {
      if (this.lateHidden.get(s) !== ino) return `the host socket ${s} started listening after the broker started`;
    }
    return undefined;
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

  /** Passes the caller's own stdin, stdout, stderr to the runner for command `id` (the packet names it). */
  private sendFds(id: number, fds: [number, number, number]): void {
    if (this.fdChannel === undefined) {
      throw new SandboxError(SandboxErrorCode.BrokerFailed, 'The sandbox broker is gone; nothing was run.', 'Retry.');
    }
    const packet = Buffer.alloc(4);
    packet.writeUInt32LE(id, 0);
    sendFds(this.fdChannel, packet, fds);
  }

  private closeFdChannel(): void {
    if (this.fdChannel !== undefined) closeFd(this.fdChannel);
    this.fdChannel = undefined;
  }

  private send(m: ToRunner): void {
    // A broker just killed (a breach kills it before its commands are told) can still read as connected; the
    // failed send is that, not an error (without the callback it would be an unhandled 'error' event).
    if (this.child?.connected) this.child.send(m, () => undefined);
  }

  /**
   * A mount no longer holds (or a host socket it cannot hide listens): the broker's sandbox is killed at once, every
   * running command is reported stopped with the reason, and the broker closed.
   */
  private breach(reason: string): void {
    if (this.child) killSandbox(this.child);
    for (const p of this.pending.values()) p.stop(reason);
    void this.close();
  }

  /**
   * Ends the live registration (once; every caller gets the same promise, so `close()` resolves only after the last
   * write to the state folder): the last sandbox of a workspace takes its placeholders and temp back.
   */
  private endRegistration(): Promise<void> {
    this.ending ??= (async () => {
      this.guard?.close();
      const reg = this.registration;
      this.registration = undefined;
      // Commands whose exit never came (the runner died) keep their groups until here: removed, and what is left
      // in them killed, before the broker's own.
      const commands = [...this.commandLimits.values()];
      this.commandLimits.clear();
      await Promise.all(commands.map((c) => c.close()));
      await this.limits?.close();
      if (reg) release(reg);
    })();
    return this.ending;
  }

  /** Kills the broker and everything it started; resolves once its registration is released. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const child = this.child;
      this.closed = true;
      if (child && child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          killSandbox(child);
        });
      }
      this.closeFdChannel();
      await this.endRegistration();
      await this.gateway?.close();
      this.closedNow();
    })();
    return this.closing;
  }
}
