/**
 * Renders one benchmark run as Markdown: printed to the terminal and written to bench/RESULTS.md, which the README
 * links to.
 * Shows only what was measured in this run; anything unavailable is stated with its reason.
 */
import type { LoadOutsideVsCode, RecordedActivation } from './activation';
import type { CaseResult, Rounds } from './harness';
import type { OverheadResults } from './overhead';
import type { PathResult, ProxyResults } from './proxy';
import type { BundleSize, VsixSizes } from './package-size';
import type { CompileResults } from './plan-compile';
import type { Machine } from './platform';
import { overheadMs, type RatioCheck, type TargetCheck } from './targets';

export interface BenchResults {
  version: 1;
  date: string;
  durationMs: number;
  machine: Machine;
  /** Load averages when the run started and ended: other work on the machine inflates every number. */
  load: { start?: number[]; end?: number[] };
  /** The backend's own status() details (Landlock ABI and the like), or why it could not be asked. */
  backendStatus: Record<string, string>;
  rounds: Rounds;
  overhead: OverheadResults;
  /** Absent in results written before the allowlist existed. */
  proxy?: ProxyResults;
  targets: TargetCheck[];
  /** Issue 15's targets, as ratios of medians in the same run (absent in results written before them). */
  ratioTargets?: RatioCheck[];
  compile: CompileResults | { error: string };
  bundles: BundleSize[];
  vsix: VsixSizes;
  activation: { recorded: RecordedActivation; loadOutsideVsCode: LoadOutsideVsCode };
}

const ms = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(1));
const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );

function machineSection(r: BenchResults): string {
  const m = r.machine;
  const rows = [
    ['OS', m.os],
    ['CPU', `${m.cpu}, nproc ${m.nproc}`],
    ['Memory', `${m.memoryGiB} GiB`],
    ['Node', m.node],
    ...Object.entries(m.extra),
    ...Object.entries(r.backendStatus).map(([k, v]) => [`backend: ${k}`, v]),
    ...(r.load.start && r.load.end
      ? [['Load average (1/5/15 min)', `${r.load.start.join(' / ')} at start, ${r.load.end.join(' / ')} at end`]]
      : []),
  ];
  const busy = (r.load.start?.[0] ?? 0) > m.nproc;
  return (
    `## Machine\n\n${table(['', ''], rows)}` +
    (busy
      ? `\n\nThe machine was busy with other work during this run (load average above its ${m.nproc} cores): ` +
        'absolute times are inflated and noisier; the ratios compare paths measured in the same run.'
      : '')
  );
}

function overheadRow(c: CaseResult, all: CaseResult[]): string[] {
  const s = c.summary;
  if (!s)
    return [
      c.command,
      c.label,
      `not available: ${(c.error ?? 'no samples').split('\n')[0].slice(0, 160)}`,
      '',
      '',
      '',
      '',
    ];
  const base = all.find((b) => b.id === c.baseline)?.summary;
  const ratio = base ? `×${(s.median / base.median).toFixed(2)}` : '';
  const over = base ? `+${ms(overheadMs(c, all))}` : '';
  return [c.command, c.label, ms(s.median), `${ms(s.p10)}–${ms(s.p90)}`, ratio, over, String(s.n)];
}

function overheadSection(r: BenchResults): string {
  const o = r.overhead;
  const rows = o.cases.map((c) => overheadRow(c, o.cases));
  const starts = Object.entries(o.brokerStartMs)
    .map(([net, v]) => `${net} ${ms(v)} ms`)
    .join(', ');
  return (
    `## Per-command overhead\n\n` +
    `Up to ${r.rounds.runs} measured runs per case (n; fewer when the ${r.rounds.budgetMs / 1000} s budget ran out) after ` +
    `${r.rounds.warmup} warm-up runs, all cases interleaved in shuffled order. Times are wall-clock from spawn to exit with all output read, in ms. "× plain" and "+ms" compare medians ` +
    `with the plain spawn of the same command in the same run. The write command's output file is checked after ` +
    `every run.\n\n` +
    table(['command', 'path', 'median ms', 'p10–p90 ms', '× plain', '+ms over plain', 'n'], rows) +
    `\n\nBroker start (first command through a new broker, including broker launch): ${starts || 'n/a'}` +
    (o.brokerStartError ? ` (error: ${o.brokerStartError.split('\n')[0]})` : '') +
    '.'
  );
}

function throughputSection(r: BenchResults): string {
  const t = r.overhead.throughput;
  if (t.error || !t.plainTotalMs || !t.brokerTotalMs) return `## Throughput\n\nNot available: ${t.error ?? 'no data'}`;
  const per = (v: number) => ms(v / t.count);
  return (
    `## Throughput\n\n${t.count} sequential short commands, median of ${t.reps} repetitions.\n\n` +
    table(
      ['path', 'total ms', 'per command ms'],
      [
        ['plain spawn', ms(t.plainTotalMs.median), per(t.plainTotalMs.median)],
        ['brokered (offline)', ms(t.brokerTotalMs.median), per(t.brokerTotalMs.median)],
        ...(t.cliWarmTotalMs
          ? [['`agent-sandbox run`, warm broker (offline)', ms(t.cliWarmTotalMs.median), per(t.cliWarmTotalMs.median)]]
          : []),
        ...(t.fastWarmTotalMs
          ? [
              [
                '`dist/agent-sandbox run` (fast launcher), warm broker (offline)',
                ms(t.fastWarmTotalMs.median),
                per(t.fastWarmTotalMs.median),
              ],
            ]
          : []),
      ],
    ) +
    (t.cliWarmTotalMs
      ? `\n\nWarm CLI total: ${(t.cliWarmTotalMs.median / t.plainTotalMs.median).toFixed(1)}× the plain total.`
      : '') +
    (t.fastWarmTotalMs
      ? ` Fast launcher total: ${(t.fastWarmTotalMs.median / t.plainTotalMs.median).toFixed(1)}× the plain total.`
      : '') +
    (t.warmServed
      ? ` The warm broker counted ${t.warmServed.served} commands for the ${t.warmServed.calls} warm CLI calls made after it started ` +
        '(fewer means some calls went cold).'
      : '')
  );
}

function proxySection(r: BenchResults): string {
  const p = r.proxy;
  if (!p || p.error || !p.proxied || !p.direct)
    return `## Network allowlist proxy\n\nNot available: ${p?.error ?? 'not measured'}`;
  const direct = p.direct;
  const ratio = (a: number, b: number) => `×${(a / b).toFixed(2)}`;
  const row = (name: string, x: PathResult, vs: boolean) => [
    name,
    ms(x.connect.median),
    `${ms(x.connect.p10)}–${ms(x.connect.p90)}`,
    vs ? ratio(x.connect.median, direct.connect.median) : '',
    x.mbPerS.toFixed(0),
    vs ? ratio(x.mbPerS, direct.mbPerS) : '',
  ];
  return (
    `## Network allowlist proxy\n\nEvery client runs inside the real sandbox (brokered): through the proxy (relay in ` +
    `the sandbox, Unix socket, the host proxy's HTTP CONNECT or SOCKS5, the host listener) and directly to the same ` +
    `host listener from an online sandbox sharing the host's network (allowHostLoopback). Connect = TCP connect (+ CONNECT or the SOCKS5 handshake) until one byte ` +
    `came back, ${p.proxied.connect.n} rounds after 3 warm-up; throughput = ${p.mib} MiB through one connection. ` +
    `"× direct" compares with the direct connection of the same run.\n\n` +
    table(
      ['path', 'connect median ms', 'p10–p90 ms', 'connect × direct', 'throughput MB/s', 'throughput × direct'],
      [
        row('direct (online)', direct, false),
        row('through the proxy, HTTP CONNECT (allowlist)', p.proxied, true),
        ...(p.socks ? [row('through the proxy, SOCKS5 (allowlist)', p.socks, true)] : []),
      ],
    )
  );
}

function compileSection(r: BenchResults): string {
  const c = r.compile;
  if ('error' in c) return `## Plan compile\n\nNot available: ${c.error}`;
  const row = (x: typeof c.small) => [
    x.files.toLocaleString('en-US'),
    x.medianUs.toFixed(0),
    x.meanUs.toFixed(0),
    String(x.fsCalls),
    String(x.samples),
  ];
  return (
    `## Plan compile\n\nPolicy → plan with the real filesystem view (tinybench). The 100k-file tree was created in ` +
    `${(c.treeCreateMs / 1000).toFixed(1)} s.\n\n` +
    table(['workspace files', 'median µs', 'mean µs', 'fs calls per compile', 'samples'], [row(c.small), row(c.big)]) +
    `\n\n${
      c.walksTree
        ? '**Planning appears to walk the tree**: fs calls or time grow with the file count.'
        : 'Planning does not walk the tree: the same number of filesystem calls for both, and no growth in time.'
    }`
  );
}

function packageSection(r: BenchResults): string {
  const bundles = r.bundles.length
    ? table(
        ['bundle', 'size'],
        r.bundles.map((b) => [b.file, kib(b.bytes)]),
      )
    : 'No bundles in dist/.';
  const v = r.vsix;
  const vsix = v.available
    ? table(
        ['target', 'vsix size'],
        v.targets.map((t) => [t.target, kib(t.bytes)]),
      ) + `\n\nPackaged in ${ms((v.packageMs ?? 0) / 1000)} s.`
    : `VSIX sizes not available: ${v.reason}`;
  return `## Package\n\n${bundles}\n\n${vsix}`;
}

function activationSection(r: BenchResults): string {
  const { recorded: rec, loadOutsideVsCode: load } = r.activation;
  const inHost = rec.available
    ? `In the extension host (e2e): activate() took ${ms(rec.activationMs)} ms (VS Code ${rec.vscodeVersion}, ${rec.at}; ` +
      `from ${rec.source}).`
    : `In the extension host: not available: ${rec.reason}.`;
  const outside =
    load.available && load.requireMs
      ? `Load time outside VS Code: \`require('dist/extension.js')\` in plain Node with \`vscode\` stubbed as an empty ` +
        `object, activate() not run: median ${ms(load.requireMs.median)} ms (p10–p90 ${ms(load.requireMs.p10)}–` +
        `${ms(load.requireMs.p90)}, ${load.requireMs.n} fresh processes).`
      : `Load time outside VS Code: not available: ${load.reason}.`;
  return `## Activation\n\n- ${inHost}\n- ${outside}`;
}

function targetsSection(r: BenchResults): string {
  const lines = r.targets.map((t) => {
    const worst = t.cases
      .map((c) => `${c.id} ${c.overheadMs === undefined ? 'n/a' : `+${ms(c.overheadMs)}`}`)
      .join(', ');
    return `- ${t.name}: **${t.verdict}** (${worst})`;
  });
  for (const t of r.ratioTargets ?? []) {
    lines.push(
      `- ${t.name}: **${t.verdict}** (${t.caseId} ${t.ratio === undefined ? 'n/a' : `${t.ratio.toFixed(2)}×`} ${t.referenceId})`,
    );
  }
  return (
    `## Targets (this machine)\n\n${lines.join('\n')}\n\n` +
    'How to read this: a cold `agent-sandbox run` starts two Node processes, the CLI and the runner that applies ' +
    'Landlock and seccomp inside bubblewrap. "cold spawn in-process" is the second half alone (bubblewrap plus the ' +
    "runner), without the CLI's own startup. The CLI loads its bundle through a V8 code cache kept beside it; the " +
    '"code cache off" row is the same run compiling the bundle from source. When the machine sets ' +
    'NODE_EXTRA_CA_CERTS, Node parses that certificate bundle at startup, before any of our code runs, and the ' +
    '"without NODE_EXTRA_CA_CERTS" rows show that share of the CLI\'s time. The broker ' +
    'pays that setup once per policy ("broker start"); each command after that is posted to a worker thread that ' +
    'entered its own Landlock domain ahead of time, and runs in its own PID namespace (`unshare` and a small `sh` ' +
    'init: two extra execs). ' +
    'The warm CLI row is `agent-sandbox run` served by the broker a first cold run left behind: a fresh Node for the ' +
    "client (the launcher connects before loading the CLI bundle), the broker recompiling the call's plan, and a " +
    'command in its own PID namespace and Landlock domain. The fast launcher rows are the same call through ' +
    '`dist/agent-sandbox` (Linux): a sh preamble and a stdlib-only Python client instead of Node, which passes its ' +
    'own stdin, stdout and stderr to the broker (no relay); the broker\'s side is the same. Its "without ' +
    'NODE_EXTRA_CA_CERTS" row differs only by noise (no Node starts); the ratio target against `node -e 0` ' +
    'without it is listed as a reference.'
  );
}

/** Why a cold run costs what it does: the design's floor, and what profiling removed. Not machine-specific. */
function coldRunSection(): string {
  return (
    '## Where a cold `agent-sandbox run` spends its time\n\n' +
    'A cold run starts two Node.js processes: the CLI, and, inside bubblewrap, the runner that applies Landlock, ' +
    '`no_new_privs` and seccomp before it starts the command. The second cannot be avoided in this design: Landlock ' +
    'has to be applied inside bubblewrap once the mounts are in place (a Landlock-restricted process may not mount), ' +
    'and with no compiled helper of our own that process is Node with koffi. Profiling with `--cpu-prof` removed the ' +
    'costs that were ours: one runner bundle per platform instead of one carrying both; a namespace import of zod so ' +
    'esbuild leaves its locales out; a V8 code cache for the CLI bundle; scrub globs compiled once; a trial sandbox ' +
    "only to explain a failure; subcommands loaded on use. Agents that run many commands should use the extension's " +
    'tool or API, which go through the broker.\n\n' +
    'Stage by stage (timestamps written at each step of a cold offline `run -- /bin/true`, medians of 15 runs, ' +
    '2026-12-03, load average about 1.4, `node -e 0` 64 ms then; not measured by this harness, and every figure ' +
    'grows with the load):\n\n' +
    '| stage | ms |\n|---|---|\n' +
    "| the CLI's Node start-up (with NODE_EXTRA_CA_CERTS set, Node parses the CA bundle here) | 95 |\n" +
    '| launcher, warm-broker check, CLI bundle from its code cache | 32 |\n' +
    '| descriptors the caller leaked made close-on-exec (koffi loads only when there is one; the shell this was ' +
    'measured from leaks one) | 17 |\n' +
    '| Linux backend modules; plan compile | 10; 12 |\n' +
    '| live register and placeholders; mount guard; cgroup; spawning bubblewrap | 8; 9; 8; 10 |\n' +
    "| bubblewrap, the cgroup launcher and the runner's Node start-up (the runner gets PATH only: no " +
    'NODE_EXTRA_CA_CERTS) | 62 |\n' +
    '| runner: bundle, IPC message, koffi, Landlock with the read-rules walk, seccomp, spawning the command | ' +
    '6, 3, 10, 13, 1, 5 |\n' +
    '| the command and its exit report | 6 |\n' +
    "| bubblewrap's exit; cgroup removal and the live register's release; the CLI's exit | 4; 24; 11 |\n\n" +
    "The cgroup removal waited 20 ms after most runs (the sandbox's last processes were still exiting): it now " +
    "retries after 1, 2, 4, 8 and 16 ms first. The allowlist proxy's code (Node's http and dns among it) is " +
    'loaded only when a proxy is made. Checked and not worth taking: a V8 code cache for the runner bundle (its ' +
    'compile takes about 1 ms), a seccomp program compiled by the CLI and handed to bubblewrap (building and ' +
    'installing it takes under 1 ms in the runner), Node start-up flags for the runner (none measurably faster). ' +
    "The largest cost left that is not the design's floor is the CLI's own NODE_EXTRA_CA_CERTS parse: Node " +
    'skips it when the variable is empty (`node -e 0` 74 ms against 28 ms here), but the only place to empty it ' +
    "before the CLI's Node starts is the `#!` line (`env -S`, the value carried on in another variable for the " +
    "command), which npm's Windows command shims and busybox `env` cannot read."
  );
}

function windowsSection(r: BenchResults): string {
  return r.machine.platform === 'win32'
    ? '## Windows\n\nThese numbers were measured on Windows.'
    : '## Windows\n\nWindows numbers are not measured on this machine: it runs Linux. The same harness runs on ' +
        'Windows (`npm run bench`, timing `cmd /c exit 0` and `cmd /c "echo x> f"`), and its results replace these ' +
        'when run there.';
}

export function renderMarkdown(r: BenchResults): string {
  return (
    [
      `# Benchmark results\n\nMeasured by \`npm run bench\` on ${r.date} (the run took ${(r.durationMs / 1000).toFixed(0)} s).`,
      machineSection(r),
      overheadSection(r),
      targetsSection(r),
      coldRunSection(),
      throughputSection(r),
      proxySection(r),
      compileSection(r),
      packageSection(r),
      activationSection(r),
      windowsSection(r),
    ].join('\n\n') + '\n'
  );
}
