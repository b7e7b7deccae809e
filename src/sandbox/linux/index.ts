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
import { prepareHost } from './prepare';
import { findBwrap, probeBwrap } from './probe';

import { runnerScript } from './runtime';
import { checkVisible } from './visibility';

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
    const summary = abi >= 1 ? `Ready: bubblewrap + Landlock ABI ${abi} + seccomp.`
      : `Ready: bubblewrap + seccomp; Landlock unavailable, so bubblewrap alone restricts writes${note ? ` (${note})` : ''}.`;
    return { state: 'ready', summary, details };
  }

  async spawn(plan: Plan, spec: SpawnSpec): Promise<SandboxProcess> {
    const linux = asLinux(plan);
    const useBroker = this.useBroker && spec.stdio === 'pipe' && !spec.tty;
    // The full probe (a trial sandbox, ~10 ms) runs up front only for long-lived brokers; a one-shot run starts
    // bwrap directly and probes only to explain a failure, so the error still names the exact fix.
    const bwrap = useBroker ? checkedBwrap() : findBwrap() ?? checkedBwrap();
    if (!spec.argv.length) throw new SandboxError(SandboxErrorCode.Internal, 'No command given.', 'Pass a command.');
    checkCwd(spec.cwd);
    checkVisible(linux, [{ what: 'working folder', path: spec.cwd }, { what: 'sandbox runner', path: runnerScript() },
      { what: 'runtime', path: process.execPath }]);
    prepareHost(linux, this.stateDir);
    if (useBroker) {
      const broker = this.brokerFor(bwrap, linux);
      try {
        return await broker.spawn(spec);
      } catch (e) {
        // Commands that cannot be kept apart are not brokered: each then gets a sandbox of its own.
        if (!broker.isolationUnavailable) throw e;
        this.useBroker = false;
      }
    }
    try {
      return await spawnCold(bwrap, linux, spec);
    } catch (e) {
      if (e instanceof SandboxError && e.code === SandboxErrorCode.BwrapUnusable) checkedBwrap();
      throw e;
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
    const all = [...this.brokers.values()];
    this.brokers.clear();
    await Promise.all(all.map((b) => b.close()));
  }

  private brokerFor(bwrap: string, plan: LinuxPlan): Broker {
    const key = createHash('sha256').update(JSON.stringify(plan)).digest('hex');
    let b = this.brokers.get(key);
    if (!b || !b.alive) {
      b = new Broker(bwrap, plan);
      this.brokers.set(key, b);
    }
    return b;
  }
}

function asLinux(plan: Plan): LinuxPlan {
  if (plan.platform !== 'linux') {
    throw new SandboxError(SandboxErrorCode.UnsupportedPlatform, `A ${plan.platform} plan cannot run on Linux.`,
      'Compile the policy for linux.');
  }
  return plan;
}

function checkCwd(cwd: string): void {
  if (!fs.existsSync(cwd)) {
    throw new SandboxError(SandboxErrorCode.RootMissing, `The working directory ${cwd} does not exist; nothing was run.`,
      'Run the command from an existing folder.');
  }
}
