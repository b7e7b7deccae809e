/**
 * The CLI's warm broker: a detached process, left behind by a cold `agent-sandbox run`, that keeps one sandbox ready
 * for one plan (Linux: the extension's Broker, each command in its own Landlock domain and PID namespace; Windows: the
 * backend's spawn with the plan prepared once, each command in its own kill-on-close job) and serves later `run`
 * calls over its channel (channel.ts: a Unix socket in the user's private folder, or a named pipe).
 *
 * Every connection is checked: the channel checks the folder and the peer (SO_PEERCRED; on Windows the client's
 * process and token), then the protocol version, the key and the plan hash; then the call's own policy is compiled
 * with the caller's environment and working folder, exactly as a cold run would, and the command runs only if that
 * plan is the one this broker enforces (the command's environment is the caller's, scrubbed by the call's plan). The
 * broker exits after an idle time (`AGENT_SANDBOX_BROKER_IDLE` seconds, default 300), when its own inputs now
 * compile to another plan (a policy file edited, a workspace moved) or its channel was lost, on
 * `agent-sandbox broker stop` and on uninstall. It must never serve a plan other than its own, nor anyone but its user.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Duplex, Readable } from 'node:stream';
import { compilePlan, type LinuxPlan, type Plan, type PlanFacts } from '../../policy';
import {
  backendFor,
  defaultStateDir,
  hostContext,
  linuxWarm,
  watchNestedGit,
  weakerThanAsked,
  type SandboxProcess,
} from '../../sandbox';
import { parse, policyInput, POLICY_OPTIONS } from '../args';
import type { ChannelListener, ReceivedStdio, WarmChannel } from './channel';
import { warmChannel } from './channels';
import { refuseBrokerFolder } from './leave';
import {
  bootPath,
  brokerDir,
  frame,
  FrameReader,
  infoPath,
  SPEC_ENV,
  WARM_PROTOCOL,
  type BrokerInfo,
  type BrokerStatus,
  type DaemonSpec,
} from '../../protocol/warm';

const DEFAULT_IDLE_S = 300;
const SANDBOX_FAILED = 125;
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
const WATCH_MS = 2000;
/** After the command exits, how long its output may still drain before the exit frame goes out regardless. */
const DRAIN_MS = 2000;

interface Hello {
  v: number;
  key: string;
  planHash: string;
  policyArgs: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  argv: string[];
  timeoutMs?: number;
  /**
   * The fast client (Linux): after the broker's 'F' it passes its own stdin, stdout, stderr (SCM_RIGHTS), and the
   * command runs directly on them; no stdio frames follow.
   */
  fds?: boolean;
}

/**
 * The sandbox a daemon keeps for its one plan. Linux: the extension's Broker (one runner inside bubblewrap, each
 * command in its own Landlock domain and PID namespace). Windows: the backend's own spawn, each command its own
 * restricted process in a kill-on-close job (timeout and cancel end its tree), the plan prepared once.
 */
export interface WarmSandbox {
  /** Commands this sandbox has started (the broker's own counter, reported by `broker status` and to each client). */
  readonly served: number;
  readonly alive: boolean;
  /** The plan a call with these inputs compiles to, as the cold path compiles it. */
  compile(policyArgs: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Plan>;
  /**
   * Starts a command of `mine` (the caller's own plan, already found to be this sandbox's) with the caller's env,
   * on the caller's own descriptors when `fds` are given (Linux; the caller closes them after).
   */
  spawn(mine: Plan, hello: Hello, env: NodeJS.ProcessEnv, fds?: [number, number, number]): Promise<SandboxProcess>;
  close(): Promise<void>;
}

/** The plan a `run` call with these policy options compiles to, as the cold path compiles it. */
export function compileRunPlan(
  policyArgs: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  platform: 'linux' | 'win32' = 'linux',
  facts: Partial<PlanFacts> = {},
): Plan {
  const { values } = parse(policyArgs, POLICY_OPTIONS, false);
  const ctx = hostContext({ platform, stateDir: defaultStateDir(env), env: { ...env }, ...facts });
  // Sockets under the host's /tmp are out of every sandbox's sight (its /tmp is its own; the roots, where the planner
  // hides nothing, are bound back): leaving them out keeps a broker's plan from changing each time any program on
  // the machine opens or closes one there (browsers and IDEs do, all day), which retired the broker every few calls.
  ctx.listeningSockets = ctx.listeningSockets?.filter((s) => !s.startsWith('/tmp/'));
  const plan = compilePlan(policyInput(values, cwd), ctx);
  if (plan.platform !== platform) throw new Error(`not a ${platform} plan`);
  return plan;
}

/**
 * What makes two plans the same sandbox: everything but the list of variable names scrubbed, which depends on
 * each caller's environment and is applied per command from the caller's own plan.
 */
export function planIdentity(plan: Plan): string {
  const { env, ...rest } = plan;
  return createHash('sha256')
    .update(JSON.stringify({ ...rest, env: { set: env.set } }))
    .digest('hex')
    .slice(0, 32);
}

export async function runBrokerDaemon(): Promise<number> {
  const spec = JSON.parse(process.env[SPEC_ENV] ?? '{}') as DaemonSpec;
  delete process.env[SPEC_ENV];
  delete process.env.ELECTRON_RUN_AS_NODE;
  const cwd = process.cwd();
  const stateDir = defaultStateDir();
  const dir = brokerDir();
  const channel = warmChannel();
  if (channel.makeDir(dir)) return 0;
  // Until it listens, a starting broker is known only by this file, so that `broker stop` and uninstall can end it
  // before it prepares the workspace behind their backs.
  const boot = bootPath(dir, process.pid);
  fs.writeFileSync(boot, JSON.stringify({ stateDir }), { mode: 0o600 });
  // Told to stop while starting: exit between steps, never in the middle of making a placeholder and its record.
  const bootStop = () => process.exit(0);
  for (const sig of STOP_SIGNALS) process.once(sig, bootStop);
  try {
    const started =
      process.platform === 'win32'
        ? await windowsSandbox(spec, cwd, stateDir)
        : await linuxSandbox(spec, cwd, stateDir);
    if (!started) return 0;
    for (const sig of STOP_SIGNALS) process.off(sig, bootStop);
    return await new Daemon(spec, cwd, started.plan, started.sandbox, dir, stateDir, channel).listen(() =>
      fs.rmSync(boot, { force: true }),
    );
  } finally {
    fs.rmSync(boot, { force: true });
  }
}

/** Linux: the plan settled (placeholders made) and its Broker started; undefined when this plan is not brokered. */
async function linuxSandbox(
  spec: DaemonSpec,
  cwd: string,
  stateDir: string,
): Promise<{ plan: Plan; sandbox: WarmSandbox } | undefined> {
  const warm = await linuxWarm();
  const settling: ReturnType<typeof warm.prepareHost>[] = [];
  const releaseAll = () => {
    for (const r of settling.splice(0)) warm.release(r);
  };
  const compile = (policyArgs: string[], at: string, env: NodeJS.ProcessEnv) =>
    compileRunPlan(policyArgs, at, env) as LinuxPlan;
  try {
    // Each settling step registers the workspace as used, so its placeholders stay until the broker holds its own.
    const plan = settledPlan(
      () => compile(spec.policyArgs, cwd, process.env),
      (p) => settling.push(warm.prepareHost(p as LinuxPlan, stateDir)),
    ) as LinuxPlan;
    // full-access is never brokered; allowlist needs the CLI's own proxy for each command (it runs cold)
    if (plan.confined === false || plan.allowlist) return undefined;
    refuseBrokerFolder([...plan.writableRoots, ...plan.workspaceRoots]);
    const probe = warm.probeBwrap();
    if (!probe.ok) return undefined;
    const broker = new warm.Broker(probe.bwrap!, plan, stateDir, undefined, () =>
      warm.hideProxySockets(plan, warm.proxySocketDir(stateDir)),
    );
    await broker.start();
    const sandbox: WarmSandbox = {
      get served() {
        return broker.served;
      },
      get alive() {
        return broker.alive;
      },
      compile: (policyArgs, at, env) => Promise.resolve(compile(policyArgs, at, env)),
      spawn(mine, hello, env, fds) {
        warm.checkVisible(mine as LinuxPlan, [{ what: 'working folder', path: hello.cwd }]);
        return broker.spawn({
          argv: hello.argv,
          cwd: hello.cwd,
          stdio: 'pipe',
          stdioFds: fds,
          timeoutMs: hello.timeoutMs,
          env: warm.commandEnv(mine as LinuxPlan, env),
        });
      },
      close: () => broker.close(),
    };
    return { plan, sandbox };
  } finally {
    releaseAll();
  }
}

/**
 * Windows: the backend this process would use for a cold run, its plan facts (unelevated or elevated mode, the
 * workspace capability SIDs) read again for every compile, the plan prepared by a first (empty) spawn so later
 * commands start at once. Undefined when this plan is not brokered.
 */
async function windowsSandbox(
  spec: DaemonSpec,
  cwd: string,
  stateDir: string,
): Promise<{ plan: Plan; sandbox: WarmSandbox } | undefined> {
  const backend = await backendFor('win32', { stateDir, broker: false });
  const compile = async (policyArgs: string[], at: string, env: NodeJS.ProcessEnv) =>
    compileRunPlan(policyArgs, at, env, 'win32', await backend.planFacts());
  const plan = await compile(spec.policyArgs, cwd, process.env);
  // Elevated plans run cold: their runner builds the command's environment from its own, not from the caller's.
  if (
    plan.platform !== 'win32' ||
    plan.mode === 'full-access' ||
    plan.network === 'allowlist' ||
    plan.windowsMode === 'elevated'
  ) {
    await backend.dispose();
    return undefined;
  }
  refuseBrokerFolder([...plan.writableRoots, ...plan.workspaceRoots], 'win32');
  let served = 0;
  const sandbox: WarmSandbox = {
    get served() {
      return served;
    },
    alive: true,
    compile,
    async spawn(mine, hello, env, fds) {
      if (fds) throw new Error('descriptors are passed on Linux only');
      const proc = await backend.spawn(mine, {
        argv: hello.argv,
        cwd: hello.cwd,
        stdio: 'pipe',
        timeoutMs: hello.timeoutMs,
        env,
      });
      served++;
      return proc;
    },
    close: () => backend.dispose(),
  };
  return { plan, sandbox };
}

/**
 * The plan once its placeholders exist: making a missing `.git` lets the next compile see (and protect) what lies
 * below it, so the plan a broker keeps must be the one later calls compile to, not the first call's.
 */
function settledPlan(compile: () => Plan, prepare: (plan: Plan) => void): Plan {
  let plan = compile();
  for (let i = 0; i < 4; i++) {
    prepare(plan);
    const next = compile();
    if (planIdentity(next) === planIdentity(plan)) break;
    plan = next;
  }
  return plan;
}

/** Exported for its tests (which give it a stand-in sandbox); `runBrokerDaemon` is its one real user. */
export class Daemon {
  private readonly planHash: string;
  private readonly info: string;
  private readonly idleMs: number;
  private listener: ChannelListener | undefined;
  private active = 0;
  private lastUsed = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private watching = false;
  private readonly started = new Date().toISOString();

  constructor(
    private readonly spec: DaemonSpec,
    private readonly cwd: string,
    private readonly plan: Plan,
    private readonly sandbox: WarmSandbox,
    private readonly dir: string,
    private readonly stateDir: string,
    private readonly channel: WarmChannel,
  ) {
    this.planHash = planIdentity(plan);
    this.info = infoPath(dir, spec.key);
    const idle = Number(process.env.AGENT_SANDBOX_BROKER_IDLE ?? DEFAULT_IDLE_S);
    this.idleMs = (Number.isFinite(idle) && idle > 0 ? idle : DEFAULT_IDLE_S) * 1000;
  }

  /** Listens on the key's channel (unless a live broker already does) and serves until told or timed out. */
  async listen(onListening: () => void): Promise<number> {
    this.listener = await this.channel.listen(this.dir, this.spec.key, (c) => this.connection(c));
    if (!this.listener) {
      await this.sandbox.close();
      return 0;
    }
    const info: BrokerInfo = {
      pid: process.pid,
      key: this.spec.key,
      planHash: this.planHash,
      stateDir: this.stateDir,
      workspaceRoots: this.plan.workspaceRoots,
      network: this.plan.network,
      started: this.started,
    };
    fs.writeFileSync(`${this.info}.${process.pid}`, JSON.stringify(info), { mode: 0o600 });
    fs.renameSync(`${this.info}.${process.pid}`, this.info);
    onListening();
    for (const s of STOP_SIGNALS) process.once(s, () => void this.stop(true));
    setInterval(() => void this.watch(), WATCH_MS);
    this.armIdle();
    return new Promise(() => undefined); // runs until stop() exits the process
  }

  /** A connection whose peer the channel has checked (this user's, not sandboxed). */
  private connection(conn: Duplex): void {
    conn.on('error', () => undefined);
    let onFrame = (type: string, payload: Buffer): void => {
      onFrame = () => undefined;
      if (type === 'Q') conn.end(frame('T', JSON.stringify(this.status())));
      else if (type === 'P') {
        conn.end(frame('T', JSON.stringify(this.status())), () => void this.stop(true));
      } else if (type === 'H') void this.accept(conn, JSON.parse(payload.toString()) as Hello, (h) => (onFrame = h));
      else conn.destroy();
    };
    const reader = new FrameReader((type, payload) => onFrame(type, payload));
    conn.on('data', (d: Buffer) => reader.push(d));
  }

  status(): BrokerStatus {
    const info = JSON.parse(fs.readFileSync(this.info, 'utf8')) as BrokerInfo;
    return {
      ...info,
      served: this.sandbox.served,
      active: this.active,
      idleSeconds: Math.round((Date.now() - this.lastUsed) / 1000),
      idleLimitSeconds: this.idleMs / 1000,
    };
  }

  private async accept(
    conn: Duplex,
    hello: Hello,
    setHandler: (h: (type: string, payload: Buffer) => void) => void,
  ): Promise<void> {
    const refuse = (reason: string): void => void conn.end(frame('R', JSON.stringify({ reason })));
    // A caller that goes away before its command has started (killed while its plan compiles or its sandbox starts)
    // must not leave the command running on its descriptors: noticed from the start, acted on once it started.
    let callerGone = false;
    conn.once('close', () => (callerGone = true));
    if (this.stopping) return refuse('the broker is stopping');
    if (hello.v !== WARM_PROTOCOL || hello.key !== this.spec.key || hello.planHash !== this.planHash)
      return refuse('another plan');
    // The fast client's own stdin, stdout, stderr: taken only from a checked peer for this plan (the channel checked
    // the folder and the peer's uid on connect, the hello the key and plan hash), closed here in every path.
    let stdio: ReceivedStdio | undefined;
    if (hello.fds) {
      const got = this.channel.receiveStdio
        ? await this.channel.receiveStdio(conn)
        : 'descriptors are passed on Linux only';
      if (typeof got === 'string') return refuse(got);
      stdio = got;
    }
    const env = { ...hello.env };
    delete env.ELECTRON_RUN_AS_NODE;
    let proc: SandboxProcess | undefined;
    let mine: Plan | undefined;
    let untrusted: (() => string | undefined) | undefined;
    this.active++;
    this.disarmIdle();
    try {
      mine = await this.sandbox.compile(hello.policyArgs, hello.cwd, env);
      if (planIdentity(mine) !== this.planHash) {
        const differs = Object.keys(mine).filter(
          (k) => k !== 'env' && JSON.stringify(mine![k as keyof Plan]) !== JSON.stringify(this.plan[k as keyof Plan]),
        );
        throw new Error(`the plan changed (${differs.join(', ') || 'env'})`);
      }
      // as the cold path (runWith): nested repositories the command makes are reported, and any weaker enforcement
      untrusted = watchNestedGit(mine.writableRoots);
      proc = await this.sandbox.spawn(mine, hello, env, stdio?.fds);
    } catch (e) {
      refuse((e as Error).message); // nothing started: the call runs cold, which reports any real problem properly
    } finally {
      stdio?.close(); // the runner holds its own copies once the spawn was sent
    }
    if (!proc || !mine) {
      this.active--;
      void this.watch();
      if (!this.stopping) this.armIdle();
      return;
    }
    // Started: from here the call is answered here, never refused (a refusal would run the command again, cold). A
    // failure now stops the command and answers 125.
    let warnings: string[] = [];
    let failed: string | undefined;
    if (callerGone) proc.kill(); // its exit is awaited below as any other; nobody reads the answer
    try {
      warnings = weakerThanAsked(proc.enforcement, mine.warnings);
    } catch (e) {
      failed = `agent-sandbox: the sandbox's enforcement could not be checked (${(e as Error).message}); the command was stopped.\n`;
      proc.kill();
    }
    conn.write(frame('A', JSON.stringify({ served: this.sandbox.served })));
    for (const w of warnings) conn.write(frame('X', `agent-sandbox: warning: ${w}\n`));
    if (failed) conn.write(frame('X', failed));
    const p = proc;
    setHandler((type, payload) => {
      if (type === 'I') p.stdin?.write(payload);
      else if (type === 'E') p.stdin?.end();
      else if (type === 'K') p.kill();
    });
    proc.stdout?.on('data', (d: Buffer) => conn.write(frame('O', d)));
    proc.stderr?.on('data', (d: Buffer) => conn.write(frame('X', d)));
    let ended = false;
    conn.once('close', () => ended || p.kill()); // the caller went away: so does its command
    const exit = await proc.exited;
    ended = true;
    await Promise.race([Promise.all([drained(proc.stdout), drained(proc.stderr)]), sleep(DRAIN_MS)]);
    conn.end(
      frame(
        'Z',
        JSON.stringify(
          failed
            ? { code: SANDBOX_FAILED }
            : { code: exit.code, signal: exit.signal, timedOut: exit.timedOut, untrusted: untrusted?.() },
        ),
      ),
    );
    this.active--;
    this.lastUsed = Date.now();
    if (this.stopping && this.active === 0) void this.stop(true);
    else this.armIdle();
  }

  /** Stops serving when the plan's inputs changed, the channel was taken over, the folder turned unsafe or the sandbox died. */
  private async watch(): Promise<void> {
    if (this.stopping || this.watching) return;
    this.watching = true;
    let reason: string | undefined;
    try {
      reason =
        this.listener?.lost() ??
        (this.channel.unsafeDir(this.dir) ? 'folder unsafe' : undefined) ??
        (this.sandbox.alive ? undefined : 'sandbox gone') ??
        (planIdentity(await this.sandbox.compile(this.spec.policyArgs, this.cwd, process.env)) !== this.planHash
          ? 'plan changed'
          : undefined);
    } catch (e) {
      reason = (e as Error).message;
    } finally {
      this.watching = false;
    }
    if (reason) void this.stop(this.active === 0);
  }

  private armIdle(): void {
    this.disarmIdle();
    if (this.active === 0) this.idleTimer = setTimeout(() => void this.stop(true), this.idleMs);
  }

  private disarmIdle(): void {
    clearTimeout(this.idleTimer);
  }

  /** Stops accepting, removes the channel and record (if still ours); `now` also ends running commands, else they finish first. */
  private async stop(now: boolean): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      if (this.listener?.close()) fs.rmSync(this.info, { force: true });
    }
    if (!now && this.active > 0) return;
    await this.sandbox.close();
    process.exit(0);
  }
}

function drained(s: Readable | null): Promise<void> {
  return s && !s.readableEnded && !s.destroyed ? new Promise((r) => s.once('close', () => r())) : Promise.resolve();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
