/**
 * The Linux backend: bubblewrap for mounts and namespaces, and the runner inside it applying Landlock,
 * no_new_privs and seccomp before any command starts. Cold mode starts a fresh sandbox per command; broker mode
 * keeps one sandboxed runner per distinct plan for piped commands. Fails closed with SandboxError when bwrap is
 * missing or unusable; never runs a command unsandboxed (except an explicit full-access plan).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Plan, LinuxPlan } from '../../policy/plan';
import type { PlanFacts } from '../../policy';
import { currentArch } from '../../../native-bindings/linux/syscall-numbers';
import { SandboxError, SandboxErrorCode } from '../../errors';
import type { BackendStatus, Enforcement, SandboxBackend, SandboxProcess, SpawnSpec } from '../types';
import type { BackendOptions } from '../types';
import { Broker } from './broker';
import { spawnCold } from './cold';
import { hostLandlockAbi, linuxEnforcement } from './enforcement';
import { MountGuard } from './guard';
import { landlockLosses } from './landlock-losses';
import { limitsMechanism, openLimits } from './limits';
import { release } from './live';
import { prepareHost } from './prepare';
import { findBwrap, probeBwrap } from './probe';

import { runnerScript } from './runtime';
import { checkVisible } from './visibility';
import { checkGrants, openCommandNetwork, withOwnGateway } from '../../network/command-session';
import { LINUX_RELAY } from '../../policy/proxy-env';
import type { NetworkProxy } from '../../network/proxy';
import { createProxy, proxySocketDir } from '../../network/shared';
import { hideProxySockets } from './launch';
import { hideSocketArgs } from './host-sockets';

/** The probed bwrap path; throws the probe's SandboxError (with the exact fix) when bwrap is missing or unusable. */
function checkedBwrap(): string {
  const probe = probeBwrap();
  if (!probe.ok) throw probe.error!;
  return probe.bwrap!;
}

export function createLinuxBackend(opts: BackendOptions): SandboxBackend {
  return new LinuxBackend(opts.stateDir, opts.broker !== false);
}

class LinuxBackend implements SandboxBackend {
  readonly platform = 'linux' as const;
  private readonly brokers = new Map<string, Broker>();
  /** The plan key whose broker serves each slot (`slotOf`): a new plan for a slot retires the old key's broker. */
  private readonly slots = new Map<string, string>();
  /** Brokers taken out of `brokers` and not closed yet: dispose closes them too and waits (their last state write). */
  private readonly retiring = new Set<Broker>();
  /** Allowlist mode: this backend's proxy, made on first use and stopped with the backend. */
  private proxy: NetworkProxy | undefined;
  private readonly getProxy = () => (this.proxy ??= createProxy(this.stateDir));

  constructor(
    private readonly stateDir: string,
    private useBroker: boolean,
  ) {}

  async status(): Promise<BackendStatus> {
    if (!currentArch()) {
      return { state: 'unsupported', summary: `No seccomp support for the ${process.arch} architecture.`, details: {} };
    }
    const probe = probeBwrap();
    const details: Record<string, string> = { bwrap: probe.bwrap ?? 'not found', bwrapVersion: probe.version ?? '' };
    if (!probe.ok) {
      return { state: 'setup-needed', summary: probe.error!.message, fix: probe.error!.fix, details };
    }
    try {
      details.runner = runnerScript();
    } catch (e) {
      const err = e as SandboxError;
      return { state: 'setup-needed', summary: err.message, fix: err.fix, details };
    }
    const { abi, note } = hostLandlockAbi();
    details.landlockAbi = String(abi);
    const lost = landlockLosses(abi, false);
    if (lost.length) details.landlockLosses = lost.join('; ');
    details.resourceLimits = limitsMechanism();
    const summary =
      (abi >= 1
        ? `Ready: bubblewrap + Landlock ABI ${abi} + seccomp.`
        : `Ready: bubblewrap + seccomp; Landlock unavailable, so bubblewrap alone restricts writes${note ? ` (${note})` : ''}.`) +
      (lost.length ? ` Not enforced on this kernel: ${lost.join('; ')}.` : '');
    return { state: 'ready', summary, details };
  }

  async spawn(plan: Plan, spec: SpawnSpec): Promise<SandboxProcess> {
    const linux = asLinux(plan);
    // A command with its own domain grants runs in a sandbox of its own (own PID namespace, own proxy gateway): in
    // a shared broker, another command could read its credential from /proc/PID/environ and use its grants.
    const useBroker = this.useBroker && spec.stdio === 'pipe' && !spec.tty && !spec.allowDomains?.length;
    // The full probe (a trial sandbox, ~10 ms) runs up front only for long-lived brokers; a one-shot run starts
    // bwrap directly and probes only to explain a failure, so the error still names the exact fix.
    const bwrap = useBroker ? checkedBwrap() : (findBwrap() ?? checkedBwrap());
    if (!spec.argv.length) throw new SandboxError(SandboxErrorCode.Internal, 'No command given.', 'Pass a command.');
    checkCwd(spec.cwd);
    checkVisible(linux, [
      { what: 'working folder', path: spec.cwd },
      { what: 'sandbox runner', path: runnerScript() },
      { what: 'runtime', path: process.execPath },
    ]);
    // Made up front, so every sandbox (a long-lived offline broker too) hides it, whenever a gateway appears in it.
    const proxyDir = proxySocketDir(this.stateDir);
    if (proxyDir) fs.mkdirSync(proxyDir, { recursive: true, mode: 0o700 });
    checkGrants(spec.allowDomains);
    if (useBroker) return this.spawnBrokered(bwrap, linux, spec);
    const registration = prepareHost(linux, this.stateDir);
    // The proxy's socket folder is hidden at launch (hideProxySockets): its gateways, this sandbox's own included,
    // are out of reach even where the plan's state folder is another one.
    let guard: MountGuard;
    try {
      guard = new MountGuard(linux, { sockets: linux, hidden: proxyDir ? [proxyDir] : [] });
    } catch (e) {
      release(registration);
      throw e;
    }
    let limits: ReturnType<typeof openLimits> | undefined;
    const end = async () => {
      guard.close();
      await limits?.close();
      release(registration);
    };
    let proc: SandboxProcess;
    let gateway: Awaited<ReturnType<NetworkProxy['openGateway']>> | undefined;
    try {
      limits = openLimits(linux);
      gateway = linux.allowlist ? await this.getProxy().openGateway(spec.argv.join(' ').slice(0, 200)) : undefined;
      const net = gateway && openCommandNetwork(gateway, linux, spec.argv, spec.allowDomains, LINUX_RELAY, true);
      const network = gateway && net ? { proxyDir: gateway.dir, env: net.env } : undefined;
      // Sockets that started listening between the plan and now (the guard's start) are hidden at launch like the
      // plan's, so the guard's baseline holds nothing the sandbox can reach; any later one is a breach.
      const hide = () => [
        ...hideProxySockets(linux, proxyDir),
        ...(linux.hideLateSockets === false
          ? []
          : hideSocketArgs([...guard.sockets.keys()].filter((s) => fs.lstatSync(s, { throwIfNoEntry: false })))),
      ];
      const cold = await spawnCold(bwrap, linux, spec, network, hide(), guard, limits).catch((e: unknown) => {
        // bwrap failed before anything ran, so one more start is safe where the cause is transient: a hidden socket
        // removed between the launch and bwrap's mount (ephemeral IDE sockets come and go; the retry drops it), or
        // an online sandbox whose loopback set-up raced slirp4netns attaching to its namespace under load (seen as
        // "loopback: Failed RTM_NEWADDR", or as slirp4netns losing its namespace). A missing slirp4netns fails again.
        const transient =
          e instanceof SandboxError &&
          ((e.code === SandboxErrorCode.BwrapUnusable &&
            socketVanished([...linux.hiddenSockets, ...guard.sockets.keys()])) ||
            (Boolean(linux.userNet) &&
              (e.code === SandboxErrorCode.BwrapUnusable || e.code === SandboxErrorCode.UserNetUnavailable)));
        if (!transient) throw e;
        return spawnCold(bwrap, linux, spec, network, hide(), guard, limits);
      });
      proc = gateway && net ? withOwnGateway(cold, gateway, net) : cold;
    } catch (e) {
      await end();
      await gateway?.close();
      if (e instanceof SandboxError && e.code === SandboxErrorCode.BwrapUnusable) checkedBwrap();
      throw e;
    }
    // The last sandbox of a workspace takes its placeholders back, and of a plan its private temp, as it ends.
    return { ...proc, kill: () => proc.kill(), exited: proc.exited.finally(end) };
  }

  /** A broker whose mounts no longer hold is retired before or during the spawn; the retry gets fresh mounts. */
  private async spawnBrokered(bwrap: string, plan: LinuxPlan, spec: SpawnSpec): Promise<SandboxProcess> {
    const broker = this.brokerFor(bwrap, plan);
    try {
      return await broker.spawn(spec);
    } catch (e) {
      // Commands that cannot be kept apart are not brokered: each then gets a sandbox of its own.
      if (broker.isolationUnavailable) {
        this.useBroker = false;
        return this.spawn(plan, spec);
      }
      if (!(e instanceof SandboxError) || e.code !== SandboxErrorCode.BrokerFailed || !/retired/.test(e.message))
        throw e;
      return this.brokerFor(bwrap, plan).spawn(spec);
    }
  }

  /** Linux needs no facts from the machine: the plan is the same whatever is installed. */
  async planFacts(): Promise<PlanFacts> {
    return {};
  }

  enforcement(plan: Plan): Enforcement {
    return linuxEnforcement(asLinux(plan));
  }

  async dispose(): Promise<void> {
    const all = [...this.brokers.values(), ...this.retiring];
    this.brokers.clear();
    this.slots.clear();
    this.retiring.clear();
    await Promise.all(all.map((b) => b.close()));
    const proxy = this.proxy;
    this.proxy = undefined;
    await proxy?.close();
  }

  /**
   * Closes a broker taken out of `brokers` (at once, or once its running commands end), remembered until it has
   * closed so `dispose` can close it too and wait for it.
   */
  private retire(b: Broker, whenIdle: boolean): void {
    this.retiring.add(b);
    void b.whenClosed.then(() => this.retiring.delete(b));
    if (whenIdle) b.closeWhenIdle();
    else void b.close();
  }

  private brokerFor(bwrap: string, plan: LinuxPlan): Broker {
    const key = createHash('sha256').update(JSON.stringify(plan)).digest('hex');
    // A policy change gives the same workspaces and network mode a new plan: the old plan's broker is retired.
    const slot = slotOf(plan);
    const replaced = this.slots.get(slot);
    this.slots.set(slot, key);
    const old = replaced !== undefined && replaced !== key ? this.brokers.get(replaced) : undefined;
    if (old) {
      this.brokers.delete(replaced!);
      this.retire(old, true);
    }
    let b = this.brokers.get(key);
    if (!b || !b.alive) {
      if (b) this.retire(b, b.retiredGently);
      b = new Broker(bwrap, plan, this.stateDir, this.getProxy, () =>
        hideProxySockets(plan, proxySocketDir(this.stateDir)),
      );
      this.brokers.set(key, b);
    }
    return b;
  }
}

/** What a plan serves: its mode, network mode and workspaces. Plans of one slot replace each other. */
function slotOf(plan: LinuxPlan): string {
  return JSON.stringify([plan.mode, plan.network, [...plan.workspaceRoots].sort()]);
}

function asLinux(plan: Plan): LinuxPlan {
  if (plan.platform !== 'linux') {
    throw new SandboxError(
      SandboxErrorCode.UnsupportedPlatform,
      `A ${plan.platform} plan cannot run on Linux.`,
      'Compile the policy for linux.',
    );
  }
  return plan;
}

function socketVanished(hidden: string[]): boolean {
  return hidden.some((p) => !fs.existsSync(p));
}

function checkCwd(cwd: string): void {
  if (!fs.existsSync(cwd)) {
    throw new SandboxError(
      SandboxErrorCode.RootMissing,
      `The working directory ${cwd} does not exist; nothing was run.`,
      'Run the command from an existing folder.',
    );
  }
}
