/**
 * Verify: proves the sandbox holds on this machine (Chromium's validation-test pattern). It plants fixtures and
 * listeners outside, runs the probe inside the sandbox through the same backend path as real commands, and
 * compares what happened with what the plan promises. Everything it made is removed in `finally`, whatever
 * happened. It must never report a pass it did not observe, and never run the probe unsandboxed.
 */
import { promises as dnsPromises } from 'node:dns';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compilePlan, DEFAULT_DENY_READ, type Plan, type PlanFacts, type Platform, type PolicyInput } from '../policy';
import { hostContext } from '../sandbox/host';
import { register, release, type Registration } from '../sandbox/linux/live';
import {
  backendFor,
  SandboxError,
  SandboxErrorCode,
  watchNestedGit,
  type Enforcement,
  type ExitInfo,
  type SandboxBackend,
} from '../sandbox';
import {
  buildBattery,
  enforcementGaps,
  sandboxMadePaths,
  SECRET_ENV,
  sleep,
  verifyNames,
  type Endpoints,
} from './checks';
import { registerTemporaryAnswers } from '../network/resolver';
import type { NetworkDenial } from '../network/proxy';
import { classify, toRow } from './classify';
import { Fixture } from './fixtures';
import { applyHole } from './holes';
import { DNS_ANSWER, Listeners, nonLoopbackIpv4, selfTestEndpoint } from './listeners';
import { probePath } from './probe-path';
import { PROBE_PREFIX, type ProbeFact, type VerifyHole, type VerifyReport } from './types';

export type { VerifyCheck, VerifyHole, VerifyReport, Observed, Expected } from './types';
export { renderReportMarkdown, renderReportText } from './report';

export interface VerifyOptions {
  platform: Platform;
  stateDir: string;
  policy: PolicyInput;
  /** The workspace to test in. Default: a fresh temp folder the verifier creates and removes. */
  workspace?: string;
  network: 'offline' | 'allowlist' | 'online';
  /** Internal test hook, not a user setting: weakens the compiled plan to prove the verifier notices. */
  testHole?: VerifyHole;
  /** Cancels the run between phases and stops the probe; cleanup still runs, then it rejects with `cancelled`. */
  signal?: AbortSignal;
  /** Internal test hook, not a user setting: the backend to use instead of this platform's (facts stubbed). */
  backend?: SandboxBackend;
}

const PROBE_TIMEOUT_MS = 120_000;

export async function runVerification(opts: VerifyOptions): Promise<VerifyReport> {
  if (opts.policy.mode === 'full-access') {
    throw new SandboxError(
      SandboxErrorCode.InvalidPolicy,
      'The policy mode is "full-access": there is no sandbox to verify.',
      'Set the mode to "workspace-write" or "read-only" (agentSandbox.mode), then run Verify again.',
    );
  }
  const fx = new Fixture({ workspace: opts.workspace, stateDir: opts.stateDir });
  const listeners = new Listeners();
  let plan: Plan | undefined;
  let held: Registration | undefined;
  const checkCancelled = () => {
    if (opts.signal?.aborted) {
      throw new SandboxError(
        SandboxErrorCode.Cancelled,
        'Verify was cancelled; no report was made.',
        'Run Verify again.',
      );
    }
  };
  try {
    checkCancelled();
    const endpoints = await startEndpoints(listeners, fx, opts.platform);
    checkCancelled();
    const backend = opts.backend ?? (await backendFor(opts.platform, { stateDir: opts.stateDir, broker: false }));
    plan = compileVerifyPlan(opts, fx, await backend.planFacts());
    let denials: () => NetworkDenial[] = () => [];
    const checks = buildBattery({
      plan,
      fx,
      listeners,
      endpoints,
      home: os.homedir(),
      systemDir: systemDir(),
      proxyDenials: () => denials(),
    });
    const runPlan = opts.testHole
      ? applyHole(plan, opts.testHole, {
          secretEnv: SECRET_ENV,
          secretDir: fx.secretDir,
          home: os.homedir(),
          protectedPath: path.join(fx.workspace, '.vscode'),
          runtimeDir: fx.runtimeDir,
          deniedName: verifyNames(fx.nonce).denied,
        })
      : plan;
    const actions = checks.flatMap((c) => (c.action ? [c.action] : []));
    checkCancelled();
    // Linux: the private temp goes with the last sandbox of its plan; held while the host reads the probe's effects.
    if (runPlan.platform === 'linux') held = register(opts.stateDir, runPlan);
    const nestedAfter = watchNestedGit(plan.writableRoots);
    const run = await runProbe(
      backend,
      runPlan,
      fx,
      Buffer.from(JSON.stringify({ actions })).toString('base64'),
      opts.signal,
    );
    denials = run.denials;
    const nested = nestedAfter();
    checkCancelled();
    // What the probe's own sandbox applied: the mode that really ran, never a guess made before it started. Under
    // the test hook the probe ran a deliberately weakened plan, standing for a backend that applies less than it
    // claims; such a backend reports what the real plan promises, so that is what the report compares against.
    const enforcement = opts.testHole ? backend.enforcement(plan) : run.enforcement;
    const gaps = enforcementGaps(plan, enforcement);
    const rows = [];
    for (const c of checks)
      rows.push(toRow(c.def, c.expected, classify(c.def, run.facts.get(c.def.id), await c.host()), gaps));
    const notes = [
      ...verifyNotes(plan, enforcement, runNotes(run, endpoints, opts.platform)),
      ...gitNotes(plan, nested),
    ];
    if (runPlan.platform === 'win32' && !opts.backend) {
      checkCancelled();
      // Under the test hook the weakened plan, so the probe its hole names fails (./windows-probes).
      const win = await windowsChecks(backend, runPlan, fx.workspace, opts.network === 'online' ? 'online' : 'offline');
      rows.push(...win.rows);
      notes.push(...win.notes);
    }
    return {
      ok: rows.every((r) => r.pass),
      platform: opts.platform,
      network: opts.network,
      enforcement,
      notes,
      checks: rows,
    };
  } finally {
    if (held) release(held);
    await stopOrphans(fx);
    listeners.close();
    fx.close(plan ? sandboxMadePaths(plan) : undefined);
    if (plan && fx.ownsWorkspace) fs.rmSync(plan.tempDir, { recursive: true, force: true });
  }
}

/**
 * How the probe is started: with this runtime from the build's dist/, except in elevated mode, where it runs as the
 * sandbox account from setup's runtime copy, like the runner (the account cannot lstat the ancestors of a profile
 * folder, review §3.4). `layout` reads that copy's paths (Windows only).
 */
export async function probeCommand(
  plan: Plan,
  layout: () => Promise<{ application: string; probe: string }> = elevatedRuntime,
): Promise<string[]> {
  if (plan.platform === 'win32' && plan.windowsMode === 'elevated') {
    const l = await layout();
    return [l.application, l.probe];
  }
  return [process.execPath, probePath()];
}

async function elevatedRuntime(): Promise<{ application: string; probe: string }> {
  const { machineRuntimeLayout } = await import('../sandbox/windows/setup/runtime-copy');
  return machineRuntimeLayout(os.homedir());
}

/** The Windows probes (console, pipes, UI, network leaks, git, HTTPS) with this machine's facts; bindings load here. */
async function windowsChecks(
  backend: SandboxBackend,
  plan: Plan & { platform: 'win32' },
  workspace: string,
  network: 'offline' | 'online',
) {
  const [{ runWindowsProbes }, { localUiFacts }, { uiIsolation }, { readFirewallFacts, evaluateFirewall }, { isWine }] =
    await Promise.all([
      import('./windows-run'),
      import('../sandbox/windows/desktop'),
      import('../sandbox/windows/ui-isolation'),
      import('../sandbox/windows/firewall-state'),
      import('../../native-bindings/win32/wine'),
    ]);
  const wine = isWine();
  // The input-injection target: a window on this (the developer's) desktop, outside the sandbox.
  const { TargetWindow } = await import('../../native-bindings/win32/window');
  return runWindowsProbes(
    backend,
    plan,
    workspace,
    {
      mode: plan.windowsMode,
      network,
      wine,
      ui: uiIsolation(localUiFacts()),
      ...(plan.windowsMode === 'elevated' && !wine ? { firewall: evaluateFirewall(readFirewallFacts()) } : {}),
    },
    undefined,
    () => TargetWindow.open('Agent Sandbox Verify: input-injection target'),
  );
}

/** The report's notes: the plan's own warnings, then what the probe's sandbox applied, then how the run went. */
export function verifyNotes(plan: Plan, enforcement: Enforcement, runNotes: string[]): string[] {
  return [...plan.warnings, ...enforcement.notes, ...(enforcement.problems ?? []), ...runNotes];
}

function compileVerifyPlan(opts: VerifyOptions, fx: Fixture, facts: PlanFacts): Plan {
  const policy: PolicyInput = {
    ...opts.policy,
    workspaceRoots: [
      fx.workspace,
      ...(opts.policy.workspaceRoots ?? []).filter((r) => path.resolve(r) !== fx.workspace),
    ],
    network: opts.network,
    denyRead: [...(opts.policy.denyRead ?? DEFAULT_DENY_READ), fx.secretDir],
  };
  if (opts.network === 'allowlist') {
    const names = verifyNames(fx.nonce);
    policy.allowedDomains = [...(opts.policy.allowedDomains ?? []), names.allowed, names.private];
  }
  const plan = compilePlan(
    policy,
    hostContext({
      ...facts,
      platform: opts.platform,
      stateDir: opts.stateDir,
      // Linux: the verifier's own runtime folder stands in for the session's, so the plan hides it the same way and
      // the host can see whether a connection to its socket got through.
      env: {
        ...process.env,
        [SECRET_ENV]: fx.nonce,
        ...(opts.platform === 'linux' ? { XDG_RUNTIME_DIR: fx.runtimeDir } : {}),
      },
    }),
  );
  // Inside VS Code the probe runs on VS Code's own runtime, which must behave as plain Node.
  if (process.versions.electron) plan.env.set.ELECTRON_RUN_AS_NODE = '1';
  return plan;
}

async function startEndpoints(listeners: Listeners, fx: Fixture, platform: Platform): Promise<Endpoints> {
  const nonce = fx.nonce;
  const loopback = await listeners.listenTcp('127.0.0.1');
  const lanHost = nonLoopbackIpv4();
  const lan = lanHost ? await listeners.listenTcp(lanHost).catch(() => undefined) : undefined;
  const dns = await listeners.listenDns('127.0.0.1');
  const broken = new Set<string>();
  for (const ep of lan ? [loopback, lan] : [loopback]) {
    if (!(await selfTestEndpoint(ep, `${nonce}-selftest`))) broken.add(`${ep.host}:${ep.port}`);
  }
  if (!(await selfTestDns(dns.host, dns.port, `${nonce}-selftest.verify.agent-sandbox.test`)))
    broken.add(`${dns.host}:${dns.port}`);
  // A socket path longer than the kernel's limit (about 107 bytes) cannot be listened on: the check is left out.
  const unix =
    platform === 'linux' && process.platform === 'linux'
      ? await listeners.listenUnix(fx.runtimeSocket).catch(() => undefined)
      : undefined;
  if (unix && !(await selfTestEndpoint(unix, `${nonce}-selftest`))) broken.add(unix.path);
  return { loopback, lan, dns, unix, broken };
}

async function selfTestDns(host: string, port: number, name: string): Promise<boolean> {
  const resolver = new dnsPromises.Resolver({ timeout: 1500, tries: 1 });
  resolver.setServers([`${host}:${port}`]);
  try {
    return (await resolver.resolve4(name)).includes(DNS_ANSWER);
  } catch {
    return false;
  }
}

interface ProbeRun {
  facts: Map<string, ProbeFact>;
  exit: ExitInfo;
  stderr: string;
  denials: () => NetworkDenial[];
  enforcement: Enforcement;
}

async function runProbe(
  backend: SandboxBackend,
  plan: Plan,
  fx: Fixture,
  spec: string,
  signal?: AbortSignal,
): Promise<ProbeRun> {
  // The secret is in this process's environment only while the sandbox starts, like a real user's token would be.
  const before = process.env[SECRET_ENV];
  process.env[SECRET_ENV] = fx.nonce;
  let proc;
  // Allowlist: the verifier's names lead to its loopback listener; `private` as a DNS answer would (not a pin).
  const names = verifyNames(fx.nonce);
  const loopback = (pinned: boolean) => [{ address: '127.0.0.1', family: 4 as const, pinned }];
  const unregister = registerTemporaryAnswers({
    [names.allowed]: loopback(true),
    [names.denied]: loopback(true),
    [names.private]: loopback(false),
  });
  try {
    proc = await backend.spawn(plan, {
      argv: [...(await probeCommand(plan)), spec],
      cwd: fx.workspace,
      stdio: 'pipe',
      timeoutMs: PROBE_TIMEOUT_MS,
      signal,
    });
  } catch (e) {
    unregister();
    throw e;
  } finally {
    if (before === undefined) delete process.env[SECRET_ENV];
    else process.env[SECRET_ENV] = before;
  }
  proc.stdin?.end();
  try {
    const [stdout, stderr, exit] = await Promise.all([collect(proc.stdout), collect(proc.stderr), proc.exited]);
    const all = proc.networkDenials?.() ?? [];
    return { facts: parseFacts(stdout), exit, stderr, denials: () => all, enforcement: proc.enforcement };
  } finally {
    unregister();
  }
}

function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (!stream) return Promise.resolve('');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer | string) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c)));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** The probe's facts from its stdout; lines that are not facts (a shell's banner, noise) are ignored. */
export function parseFacts(stdout: string): Map<string, ProbeFact> {
  const facts = new Map<string, ProbeFact>();
  for (const line of stdout.split(/\r?\n/)) {
    const at = line.indexOf(PROBE_PREFIX);
    if (at === -1) continue;
    try {
      const f = JSON.parse(line.slice(at + PROBE_PREFIX.length)) as ProbeFact;
      if (typeof f.id === 'string' && typeof f.ok === 'boolean') facts.set(f.id, f);
    } catch {
      // a torn line: the check it belonged to is reported FAILED
    }
  }
  return facts;
}

function runNotes(run: ProbeRun, ep: Endpoints, platform: Platform): string[] {
  const notes: string[] = [];
  if (!ep.lan)
    notes.push('This machine has no usable non-loopback IPv4 address, so the LAN connect check was left out.');
  if (platform === 'linux' && !ep.unix) {
    notes.push(
      'The verifier could not listen on a Unix socket in its runtime folder (the path may be too long), so the ' +
        'host-socket check was left out.',
    );
  }
  if (run.exit.code !== 0) {
    notes.push(
      `The probe exited with code ${run.exit.code}${run.exit.timedOut ? ' (timed out)' : ''}: ${run.stderr.trim().slice(0, 500)}`,
    );
  }
  return notes;
}

/** Hook-manager configs left writable, and what the nested-repository check saw after the probe's run. */
export function gitNotes(plan: Pick<Plan, 'unprotected'>, nested: string | undefined): string[] {
  const notes = plan.unprotected.map((u) => `Unprotected: ${u}`);
  notes.push(
    nested ??
      'Nested repositories: no protection can stop a command from creating a new git repository (with ' +
        'its own config, such as core.fsmonitor) or a gitlink inside a writable folder, and your git or editor would then ' +
        'run that config. Agent Sandbox looks for new ones after every run and reports them as untrusted; this run made none.',
  );
  return notes;
}

function systemDir(): string {
  return process.platform === 'win32' ? (process.env.SystemRoot ?? 'C:\\Windows') : '/etc';
}

/** Stops a background process that survived (only when the sandbox failed to kill it), then lets it exit. */
async function stopOrphans(fx: Fixture): Promise<void> {
  if (!fs.existsSync(fx.heartbeat)) return;
  try {
    fs.writeFileSync(fx.stop, '');
  } catch {
    // the workspace is gone; the heartbeat process exits on its next failed write
  }
  if (process.platform === 'linux') killByCmdline(fx.nonce);
  await sleep(300);
}

/** Linux: kills processes whose command line carries this run's nonce (a surviving heartbeat). */
function killByCmdline(nonce: string): void {
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(nonce) && Number(pid) !== process.pid)
        process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already, or not ours to read
    }
  }
}
