/**
 * Per-command overhead and throughput: plain spawn vs `agent-sandbox run` (cold, in a fresh Node; and on Linux warm,
 * served by the broker a cold run left behind), the backend's cold path in this process (separates CLI startup
 * from sandbox setup), and the broker, offline and online, all interleaved in one run. A sandbox that cannot be applied shows up as an error row, never as a number.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Network, Plan, Platform } from '../src/policy';
import { compilePlan, policyFromCli } from '../src/policy';
import { backendFor, type SandboxBackend } from '../src/sandbox';
import { hostContext } from '../src/sandbox/host';
import { runInterleaved, timeSequential, type Case, type CaseResult, type Rounds } from './harness';
import { benchCommands } from './platform';
import { checkedWrite, cliRun, fastRun, plainSpawn, sandboxSpawn } from './spawners';
import { summarize, type Summary } from './stats';
import { listBrokers } from '../src/sandbox/linux/warm-control';

export interface OverheadSetup {
  platform: Platform;
  /** A small workspace (a handful of files). */
  ws: string;
  /** A workspace holding 100k files, to show sandbox setup does not walk the tree. */
  bigWs: string;
  stateDir: string;
  cliPath: string;
}

export interface OverheadResults {
  cases: CaseResult[];
  /** First command through a new broker: broker start plus one command. */
  brokerStartMs: Partial<Record<Network, number>>;
  brokerStartError?: string;
  throughput: ThroughputResult;
}

export interface ThroughputResult {
  count: number;
  reps: number;
  plainTotalMs?: Summary;
  brokerTotalMs?: Summary;
  /** The same commands through `agent-sandbox run` (warm broker), each a fresh CLI process. */
  cliWarmTotalMs?: Summary;
  /** The same through the fast launcher (`dist/agent-sandbox`, Linux), each a fresh launcher process. */
  fastWarmTotalMs?: Summary;
  /** Commands the warm broker counted over the whole benchmark, against the warm CLI calls made. */
  warmServed?: { served: number; calls: number };
  error?: string;
}

const NETWORKS: Network[] = ['offline', 'online'];
const THROUGHPUT_COUNT = 200;
const THROUGHPUT_REPS = 3;

export function planFor(platform: Platform, ws: string, stateDir: string, network: Network): Plan {
  const flags = { workspace: [ws], write: [], readOnly: false, network, protect: [] };
  return compilePlan(policyFromCli(flags, ws), hostContext({ platform, stateDir }));
}

async function backendOrError(s: OverheadSetup, broker: boolean): Promise<SandboxBackend | Error> {
  try {
    return await backendFor(s.platform, { stateDir: s.stateDir, broker });
  } catch (e) {
    return e as Error;
  }
}

function failing(e: Error): () => Promise<void> {
  return () => Promise.reject(e);
}

interface Sandboxes {
  cold: SandboxBackend | Error;
  broker: SandboxBackend | Error;
  plans: Record<Network, Plan>;
  bigPlan: Plan;
}

function inSandbox(b: SandboxBackend | Error, plan: Plan, argv: string[], cwd: string): () => Promise<void> {
  return b instanceof Error ? failing(b) : () => sandboxSpawn(b, plan, argv, cwd);
}

export async function measureOverhead(
  s: OverheadSetup,
  rounds: Rounds,
  progress: (m: string) => void,
): Promise<OverheadResults> {
  const sb: Sandboxes = {
    cold: await backendOrError(s, false),
    broker: await backendOrError(s, true),
    plans: {
      offline: planFor(s.platform, s.ws, s.stateDir, 'offline'),
      online: planFor(s.platform, s.ws, s.stateDir, 'online'),
    },
    bigPlan: planFor(s.platform, s.bigWs, s.stateDir, 'offline'),
  };
  progress('broker start (first command through a new broker)...');
  const start = await brokerStart(s, sb);
  const trueArgv = benchCommands(s.platform).trueArgv;
  const warmCli = () => cliRun(s.cliPath, 'offline', trueArgv, s.ws, s.stateDir, process.env, { warm: true });
  const warm = s.platform === 'linux' ? await startWarmBroker(warmCli, s.stateDir, progress) : undefined;
  // The fast launcher computes the same key, so it is served by the same broker.
  const launcher = path.join(path.dirname(s.cliPath), 'agent-sandbox');
  const fastCli =
    warm && fs.existsSync(launcher) ? () => fastRun(launcher, 'offline', trueArgv, s.ws, s.stateDir) : undefined;
  const cases = buildCases(s, sb, warm ? warmCli : undefined, fastCli);
  progress(`${cases.length} cases × (${rounds.warmup} warm-up + up to ${rounds.runs} measured) rounds, interleaved...`);
  const results = await runInterleaved(cases, rounds, progress);
  progress(
    `throughput: ${THROUGHPUT_COUNT} sequential commands, plain vs brokered vs warm CLI, ${THROUGHPUT_REPS} reps...`,
  );
  const throughput = await measureThroughput(
    () => plainSpawn(trueArgv, s.ws),
    inSandbox(sb.broker, sb.plans.offline, trueArgv, s.ws),
    warm ? warmCli : undefined,
    fastCli,
  );
  if (warm) {
    const warmIds = ['warm/offline/true', 'ref/warm-no-extra-ca', 'fast/offline/true', 'ref/fast-no-extra-ca'];
    const warmCases = results.filter((c) => warmIds.includes(c.id));
    const calls =
      warmCases.reduce((n, c) => n + c.samples.length + rounds.warmup, 0) +
      (throughput.cliWarmTotalMs ? THROUGHPUT_COUNT * THROUGHPUT_REPS : 0) +
      (throughput.fastWarmTotalMs ? THROUGHPUT_COUNT * THROUGHPUT_REPS : 0);
    throughput.warmServed = { served: (await warmServed(s.stateDir)) - warm.servedBefore, calls };
  }
  return { cases: results, ...start, throughput };
}

/** Times the first command through each network's broker, which includes starting the broker. */
async function brokerStart(
  s: OverheadSetup,
  sb: Sandboxes,
): Promise<Pick<OverheadResults, 'brokerStartMs' | 'brokerStartError'>> {
  const brokerStartMs: OverheadResults['brokerStartMs'] = {};
  let brokerStartError: string | undefined;
  for (const net of NETWORKS) {
    try {
      const t0 = performance.now();
      await inSandbox(sb.broker, sb.plans[net], benchCommands(s.platform).trueArgv, s.ws)();
      brokerStartMs[net] = performance.now() - t0;
    } catch (e) {
      brokerStartError = (e as Error).message;
    }
  }
  return { brokerStartMs, brokerStartError };
}

/** One warm-up call leaves the broker; waits until it answers, so every timed warm call is served warm. */
async function startWarmBroker(
  warmCli: () => Promise<void>,
  stateDir: string,
  progress: (m: string) => void,
): Promise<{ servedBefore: number } | undefined> {
  progress('warm broker: one cold CLI run leaves it, waiting for it to answer...');
  try {
    await warmCli();
    for (let i = 0; i < 100; i++) {
      const b = (await listBrokers(stateDir)).find((l) => l.status);
      if (b?.status) return { servedBefore: b.status.served };
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    progress(`warm broker unavailable: ${(e as Error).message}`);
  }
  return undefined;
}

async function warmServed(stateDir: string): Promise<number> {
  return (await listBrokers(stateDir)).reduce((n, l) => n + (l.status?.served ?? 0), 0);
}

function buildCases(
  s: OverheadSetup,
  sb: Sandboxes,
  warmCli?: () => Promise<void>,
  fastCli?: () => Promise<void>,
): Case[] {
  const cmds = benchCommands(s.platform);
  const cases: Case[] = [
    { id: 'plain/true', label: 'plain spawn', command: cmds.trueLabel, run: () => plainSpawn(cmds.trueArgv, s.ws) },
    writeCase({ id: 'plain/write', label: 'plain spawn', command: cmds.writeLabel }, s.ws, () =>
      plainSpawn(cmds.writeArgv, s.ws),
    ),
    {
      id: 'ref/node',
      label: 'Node startup, no sandbox (reference)',
      command: 'node -e 0',
      baseline: 'plain/true',
      run: () => plainSpawn([process.execPath, '-e', '0'], s.ws),
    },
    {
      id: 'ref/cli-help',
      label: 'CLI load, no sandbox (reference)',
      command: 'node dist/cli.js --help',
      baseline: 'plain/true',
      run: () => plainSpawn([process.execPath, s.cliPath, '--help'], s.ws),
    },
  ];
  cases.push(...cliReferenceCases(s, !!fastCli));
  if (warmCli) {
    cases.push({
      id: 'warm/offline/true',
      label: 'agent-sandbox run (warm broker, CLI), offline',
      command: cmds.trueLabel,
      baseline: 'plain/true',
      run: warmCli,
    });
  }
  if (fastCli) {
    cases.push({
      id: 'fast/offline/true',
      label: 'agent-sandbox run (warm broker, fast launcher dist/agent-sandbox), offline',
      command: cmds.trueLabel,
      baseline: 'plain/true',
      run: fastCli,
    });
  }
  const launcher = path.join(path.dirname(s.cliPath), 'agent-sandbox');
  if (s.platform === 'linux' && fs.existsSync(launcher)) {
    // The launcher's cold path: no Python (no broker may serve the call), and the CLI's Node started with
    // NODE_EXTRA_CA_CERTS moved aside (the CLI makes no TLS connection; the command still gets the variable).
    cases.push({
      id: 'fastcold/offline/true',
      label: 'agent-sandbox run (cold, fast launcher dist/agent-sandbox), offline',
      command: cmds.trueLabel,
      baseline: 'plain/true',
      run: () => fastRun(launcher, 'offline', cmds.trueArgv, s.ws, s.stateDir, process.env, ['--no-broker']),
    });
  }
  const commands = [
    { kind: 'true', argv: cmds.trueArgv, text: cmds.trueLabel },
    { kind: 'write', argv: cmds.writeArgv, text: cmds.writeLabel },
  ];
  for (const net of NETWORKS) {
    for (const cmd of commands) {
      const variants: [string, string, () => Promise<void>][] = [
        ['cli', `agent-sandbox run (cold, CLI), ${net}`, () => cliRun(s.cliPath, net, cmd.argv, s.ws, s.stateDir)],
        ['cold', `cold spawn in-process, ${net}`, inSandbox(sb.cold, sb.plans[net], cmd.argv, s.ws)],
        ['broker', `brokered, ${net}`, inSandbox(sb.broker, sb.plans[net], cmd.argv, s.ws)],
      ];
      for (const [path, label, run] of variants) {
        const c = { id: `${path}/${net}/${cmd.kind}`, label, command: cmd.text, baseline: `plain/${cmd.kind}` };
        cases.push(cmd.kind === 'write' ? writeCase(c, s.ws, run) : { ...c, run });
      }
    }
  }
  cases.push({
    id: 'cold-100k/offline/true',
    label: 'cold spawn in-process, offline, 100k-file workspace',
    command: cmds.trueLabel,
    baseline: 'plain/true',
    run: inSandbox(sb.cold, sb.bigPlan, cmds.trueArgv, s.bigWs),
  });
  return cases;
}

/**
 * What a cold CLI run is made of, measured rather than guessed: the same offline `run` without the CLI's V8 code
 * cache, and, when this machine sets NODE_EXTRA_CA_CERTS (Node then parses that CA bundle while it starts, before
 * any of our code runs), Node's startup and the CLI run without it.
 */
function cliReferenceCases(s: OverheadSetup, fast: boolean): Case[] {
  const argv = benchCommands(s.platform).trueArgv;
  const label = benchCommands(s.platform).trueLabel;
  const cases: Case[] = [
    {
      id: 'ref/cli-no-code-cache',
      label: 'agent-sandbox run (cold, CLI), offline, code cache off (reference)',
      command: label,
      baseline: 'plain/true',
      run: () =>
        cliRun(s.cliPath, 'offline', argv, s.ws, s.stateDir, { ...process.env, AGENT_SANDBOX_CODE_CACHE: '0' }),
    },
  ];
  // Another build of the CLI (a checkout of an older commit, built once), run the same way in the same run, so a
  // change to the cold path is judged against what it replaced on the same machine at the same load.
  const baseline = process.env.AGENT_SANDBOX_BENCH_BASELINE_CLI;
  if (baseline) {
    cases.push({
      id: 'ref/cli-baseline',
      label: `agent-sandbox run (cold, CLI), offline, ${process.env.AGENT_SANDBOX_BENCH_BASELINE_LABEL ?? baseline} (reference)`,
      command: label,
      baseline: 'plain/true',
      run: () => cliRun(baseline, 'offline', argv, s.ws, s.stateDir),
    });
  }
  if (process.env.NODE_EXTRA_CA_CERTS) {
    const { NODE_EXTRA_CA_CERTS: _ca, ...withoutCa } = process.env;
    cases.push(
      {
        id: 'ref/node-no-extra-ca',
        label: 'Node startup without NODE_EXTRA_CA_CERTS (reference)',
        command: 'node -e 0',
        baseline: 'plain/true',
        run: () => plainSpawn([process.execPath, '-e', '0'], s.ws, withoutCa),
      },
      {
        id: 'ref/cli-no-extra-ca',
        label: 'agent-sandbox run (cold, CLI), offline, without NODE_EXTRA_CA_CERTS (reference)',
        command: label,
        baseline: 'plain/true',
        run: () => cliRun(s.cliPath, 'offline', argv, s.ws, s.stateDir, withoutCa),
      },
    );
    if (s.platform === 'linux') {
      cases.push({
        id: 'ref/warm-no-extra-ca',
        label: 'agent-sandbox run (warm broker, CLI), offline, without NODE_EXTRA_CA_CERTS (reference)',
        command: label,
        baseline: 'plain/true',
        run: () => cliRun(s.cliPath, 'offline', argv, s.ws, s.stateDir, withoutCa, { warm: true }),
      });
    }
    if (fast) {
      const launcher = path.join(path.dirname(s.cliPath), 'agent-sandbox');
      cases.push({
        id: 'ref/fast-no-extra-ca',
        label: 'agent-sandbox run (warm broker, fast launcher), offline, without NODE_EXTRA_CA_CERTS (reference)',
        command: label,
        baseline: 'plain/true',
        run: () => fastRun(launcher, 'offline', argv, s.ws, s.stateDir, withoutCa),
      });
    }
  }
  return cases;
}

function writeCase(c: Omit<Case, 'run'>, cwd: string, run: () => Promise<void>): Case {
  return { ...c, ...checkedWrite(cwd, run) };
}

async function measureThroughput(
  plain: () => Promise<void>,
  brokered: () => Promise<void>,
  warmCli?: () => Promise<void>,
  fastCli?: () => Promise<void>,
): Promise<ThroughputResult> {
  const plainTotals: number[] = [];
  const brokerTotals: number[] = [];
  const cliTotals: number[] = [];
  const fastTotals: number[] = [];
  try {
    for (let rep = 0; rep < THROUGHPUT_REPS; rep++) {
      plainTotals.push(await timeSequential(THROUGHPUT_COUNT, plain));
      brokerTotals.push(await timeSequential(THROUGHPUT_COUNT, brokered));
      if (warmCli) cliTotals.push(await timeSequential(THROUGHPUT_COUNT, warmCli));
      if (fastCli) fastTotals.push(await timeSequential(THROUGHPUT_COUNT, fastCli));
    }
  } catch (e) {
    return { count: THROUGHPUT_COUNT, reps: THROUGHPUT_REPS, error: (e as Error).message };
  }
  return {
    count: THROUGHPUT_COUNT,
    reps: THROUGHPUT_REPS,
    plainTotalMs: summarize(plainTotals),
    brokerTotalMs: summarize(brokerTotals),
    ...(cliTotals.length ? { cliWarmTotalMs: summarize(cliTotals) } : {}),
    ...(fastTotals.length ? { fastWarmTotalMs: summarize(fastTotals) } : {}),
  };
}
