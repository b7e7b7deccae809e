/**
 * The CLI's warm broker: a detached process, left behind by a cold `agent-sandbox run`, that keeps one sandboxed
 * runner (the same Broker the extension uses, with each command in its own Landlock domain and PID namespace) for
 * one plan and serves later `run` calls over a Unix socket in the user's private broker folder.
 *
 * Every connection is checked: the folder's owner and mode, the peer's uid (SO_PEERCRED), the protocol version,
 * the key and the plan hash; then the call's own policy is compiled with the caller's environment and working
 * folder, exactly as a cold run would, and the command runs only if that plan is the one this broker enforces
 * (the command's environment is scrubbed by the call's plan). The broker exits after an idle time
 * (`AGENT_SANDBOX_BROKER_IDLE` seconds, default 300), when its own inputs now compile to another plan (a policy
 * file edited, a workspace moved) or its socket was replaced, on `agent-sandbox broker stop` and on uninstall.
 * It must never serve a plan other than its own, nor anyone but its user.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Duplex, Readable } from 'node:stream';
import { compilePlan, type LinuxPlan } from '../../policy';
import {
  defaultStateDir,
  hostContext,
  linuxWarm,
  watchNestedGit,
  weakerThanAsked,
  type SandboxProcess,
} from '../../sandbox';
import { parse, policyInput, POLICY_OPTIONS } from '../args';
import type { ChannelListener } from './channel';
import { warmChannel } from './channels';
import { refuseBrokerFolder } from './leave';
import {
  bootPath,
  brokerDir,
  frame,
  FrameReader,
  infoPath,
  SPEC_ENV,
  unsafeDir,
  WARM_PROTOCOL,
  type BrokerInfo,
  type BrokerStatus,
  type DaemonSpec,
} from '../../protocol/warm';

type Warm = Awaited<ReturnType<typeof linuxWarm>>;
type Broker = InstanceType<Warm['Broker']>;

const DEFAULT_IDLE_S = 300;
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
}

/** The plan a `run` call with these policy options compiles to, as the cold path compiles it. */
export function compileRunPlan(policyArgs: string[], cwd: string, env: NodeJS.ProcessEnv): LinuxPlan {
  const { values } = parse(policyArgs, POLICY_OPTIONS, false);
  const ctx = hostContext({ platform: 'linux', stateDir: defaultStateDir(env), env: { ...env } });
  // Sockets under the host's /tmp are out of every sandbox's sight (its /tmp is its own; the roots, where the planner
  // hides nothing, are bound back): leaving them out keeps a broker's plan from changing each time any program on
  // the machine opens or closes one there (browsers and IDEs do, all day), which retired the broker every few calls.
  ctx.listeningSockets = ctx.listeningSockets?.filter((s) => !s.startsWith('/tmp/'));
  const plan = compilePlan(policyInput(values, cwd), ctx);
  if (plan.platform !== 'linux') throw new Error('not a Linux plan');
  return plan;
}

/**
 * What makes two plans the same sandbox: everything but the list of variable names scrubbed, which depends on
 * each caller's environment and is applied per command from the caller's own plan.
 */
export function planIdentity(plan: LinuxPlan): string {
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
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch {
    // exists: checked next
  }
  if (unsafeDir(dir)) return 0;
  // Until it listens, a starting broker is known only by this file, so that `broker stop` and uninstall can end it
  // before it prepares the workspace behind their backs.
  const boot = bootPath(dir, process.pid);
  fs.writeFileSync(boot, JSON.stringify({ stateDir }), { mode: 0o600 });
  // Told to stop while starting: exit between steps, never in the middle of making a placeholder and its record.
  const bootStop = () => process.exit(0);
  for (const sig of STOP_SIGNALS) process.once(sig, bootStop);
  const warm = await linuxWarm();
  const settling: ReturnType<typeof warm.prepareHost>[] = [];
  const releaseAll = () => {
    for (const r of settling.splice(0)) warm.release(r);
  };
  try {
    // Each settling step registers the workspace as used, so its placeholders stay until the broker holds its own.
    const plan = settledPlan(
      () => compileRunPlan(spec.policyArgs, cwd, process.env),
      (p) => settling.push(warm.prepareHost(p, stateDir)),
    );
    // full-access is never brokered; allowlist needs the CLI's own proxy for each command (it runs cold)
    if (plan.confined === false || plan.allowlist) return 0;
    refuseBrokerFolder([...plan.writableRoots, ...plan.workspaceRoots]);
    const probe = warm.probeBwrap();
    if (!probe.ok) return 0;
    const broker = new warm.Broker(probe.bwrap!, plan, stateDir, undefined, () =>
      warm.hideProxySockets(plan, warm.proxySocketDir(stateDir)),
    );
    await broker.start();
    releaseAll();
    for (const sig of STOP_SIGNALS) process.off(sig, bootStop);
    return await new Daemon(spec, cwd, plan, broker, dir, stateDir, warm).listen(() =>
      fs.rmSync(boot, { force: true }),
    );
  } finally {
    releaseAll();
    fs.rmSync(boot, { force: true });
  }
}

/**
 * The plan once its placeholders exist: making a missing `.git` lets the next compile see (and protect) what lies
 * below it, so the plan a broker keeps must be the one later calls compile to, not the first call's.
 */
function settledPlan(compile: () => LinuxPlan, prepare: (plan: LinuxPlan) => void): LinuxPlan {
  let plan = compile();
  for (let i = 0; i < 4; i++) {
    prepare(plan);
    const next = compile();
    if (planIdentity(next) === planIdentity(plan)) break;
    plan = next;
  }
  return plan;
}

class Daemon {
  private readonly planHash: string;
  private readonly info: string;
  private readonly idleMs: number;
  private listener: ChannelListener | undefined;
  private active = 0;
  private lastUsed = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly started = new Date().toISOString();

  constructor(
    private readonly spec: DaemonSpec,
    private readonly cwd: string,
    private readonly plan: LinuxPlan,
    private readonly broker: Broker,
    private readonly dir: string,
    private readonly stateDir: string,
    private readonly warm: Warm,
  ) {
    this.planHash = planIdentity(plan);
    this.info = infoPath(dir, spec.key);
    const idle = Number(process.env.AGENT_SANDBOX_BROKER_IDLE ?? DEFAULT_IDLE_S);
    this.idleMs = (Number.isFinite(idle) && idle > 0 ? idle : DEFAULT_IDLE_S) * 1000;
  }

  /** Listens on the key's channel (unless a live broker already does) and serves until told or timed out. */
  async listen(onListening: () => void): Promise<number> {
    this.listener = await warmChannel().listen(this.dir, this.spec.key, (c) => this.connection(c));
    if (!this.listener) {
      await this.broker.close();
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
    setInterval(() => this.watch(), WATCH_MS);
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
      served: this.broker.served,
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
    if (this.stopping) return refuse('the broker is stopping');
    if (hello.v !== WARM_PROTOCOL || hello.key !== this.spec.key || hello.planHash !== this.planHash)
      return refuse('another plan');
    const env = { ...hello.env };
    delete env.ELECTRON_RUN_AS_NODE;
    let proc: SandboxProcess | undefined;
    let untrusted: (() => string | undefined) | undefined;
    let warnings: string[] = [];
    this.active++;
    this.disarmIdle();
    try {
      const mine = compileRunPlan(hello.policyArgs, hello.cwd, env);
      if (planIdentity(mine) !== this.planHash) {
        const differs = (Object.keys(mine) as (keyof LinuxPlan)[]).filter(
          (k) => k !== 'env' && JSON.stringify(mine[k]) !== JSON.stringify(this.plan[k]),
        );
        throw new Error(`the plan changed (${differs.join(', ') || 'env'})`);
      }
      this.warm.checkVisible(mine, [{ what: 'working folder', path: hello.cwd }]);
      // as the cold path (runWith): nested repositories the command makes are reported, and any weaker enforcement
      untrusted = watchNestedGit(mine.writableRoots);
      proc = await this.broker.spawn({
        argv: hello.argv,
        cwd: hello.cwd,
        stdio: 'pipe',
        timeoutMs: hello.timeoutMs,
        env: this.warm.commandEnv(mine, env),
      });
      warnings = weakerThanAsked(proc.enforcement, mine.warnings);
    } catch (e) {
      // A refused call runs cold: a command already started here is killed and waited for first, never run twice.
      if (proc) {
        const started = proc;
        proc = undefined;
        started.kill();
        await started.exited.catch(() => undefined);
      }
      refuse((e as Error).message); // the call runs cold, which reports any real problem properly
    }
    if (!proc) {
      this.active--;
      this.watch();
      if (!this.stopping) this.armIdle();
      return;
    }
    conn.write(frame('A', JSON.stringify({ served: this.broker.served })));
    for (const w of warnings) conn.write(frame('X', `agent-sandbox: warning: ${w}\n`));
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
        JSON.stringify({ code: exit.code, signal: exit.signal, timedOut: exit.timedOut, untrusted: untrusted?.() }),
      ),
    );
    this.active--;
    this.lastUsed = Date.now();
    if (this.stopping && this.active === 0) void this.stop(true);
    else this.armIdle();
  }

  /** Stops serving when the plan's inputs changed, the channel was taken over, the folder turned unsafe or the sandbox died. */
  private watch(): void {
    if (this.stopping) return;
    let reason: string | undefined;
    try {
      reason =
        this.listener?.lost() ??
        (unsafeDir(this.dir) ? 'folder unsafe' : undefined) ??
        (this.broker.alive ? undefined : 'sandbox gone') ??
        (planIdentity(compileRunPlan(this.spec.policyArgs, this.cwd, process.env)) !== this.planHash
          ? 'plan changed'
          : undefined);
    } catch (e) {
      reason = (e as Error).message;
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
    await this.broker.close();
    process.exit(0);
  }
}

function drained(s: Readable | null): Promise<void> {
  return s && !s.readableEnded && !s.destroyed ? new Promise((r) => s.once('close', () => r())) : Promise.resolve();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
