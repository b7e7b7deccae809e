/**
 * Resource limits of one sandbox (the plan's `limits`): a cgroup made for it where this machine lets us make one
 * (cgroup v2 whose own group delegates `pids` and `memory` to children, or writable cgroup v1 `pids`/`memory`
 * hierarchies, as root often has), joined by bubblewrap's launcher before it execs, so every process of the sandbox
 * is in it from birth. Otherwise memory is limited per process with RLIMIT_DATA (hard and soft, so the sandbox cannot
 * raise it) and processes are not limited: RLIMIT_NPROC counts every process of the user, so it cannot bound one
 * sandbox. Must never leave a cgroup behind once the sandbox has ended, nor run a command when a limit it reported
 * could not be applied.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LinuxPlan } from '../../policy/plan';
import { SandboxError, SandboxErrorCode } from '../../errors';
import { alive } from '../../file-lock';

/** Limit hits so far: forks refused at the process limit, processes killed at the memory limit. */
export interface LimitCounts {
  pids: number;
  oom: number;
}

export interface SandboxLimits {
  /** How the limits apply, for the enforcement notes. */
  readonly notes: string[];
  /** The launcher argv that joins the cgroup and sets the rlimit, then execs `file args`. */
  wrap(file: string, args: string[]): { file: string; args: string[] };
  counts(): LimitCounts;
  /** What was hit since `since`, in words (empty when nothing was). */
  hitsSince(since: LimitCounts): string[];
  /** Kills what is left in the cgroup and removes it, resolving once it is gone (or given up on). Idempotent. */
  close(): Promise<void>;
  /**
   * A broker's, where its hierarchy allows (cgroup v1): makes one brokered command's own cgroup, a child of the
   * broker's with the plan's limits, and moves the runner's thread `hostTid` (the one about to fork the command) into
   * it, so the command is in it from birth. `runnerTids` names the runner's threads, which closing it never kills.
   * Throws when it cannot be made. Absent where the commands of one broker share its cgroup.
   */
  forCommand?(id: number, hostTid: number, runnerTids: () => Set<number>): CommandLimits;
}

/** One brokered command's own cgroup: what it hit, and its removal once the command ended. */
export type CommandLimits = Pick<SandboxLimits, 'counts' | 'hitsSince' | 'close'>;

interface Group {
  /** Folders made for this sandbox (one for v2, one per controller for v1). */
  dirs: string[];
  pidsDir?: string;
  memoryDir?: string;
  version: 1 | 2;
}

/**
 * `sh` joins each cgroup.procs file, sets RLIMIT_DATA when asked (dash and bash set hard and soft), then execs the
 * sandbox. Exit 125 (the sandbox's "never ran") when any step fails.
 */
const LAUNCHER =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; ' +
  'd=$1; shift; if [ "$d" != 0 ]; then ulimit -d "$d" || exit 125; fi; exec "$@"';

let serial = 0;

/** What a broker's limits are, in every note and hit, where they cannot be per command (cgroup v2). */
export const BROKER_SHARED = 'shared by the commands of one broker';

/** What a broker's limits are where each of its commands gets its own cgroup (v1). */
export const PER_COMMAND = "for each command of the broker (its own cgroup, a child of the broker's)";

/**
 * Test hook: brokers keep one cgroup for all their commands, as before per-command cgroups (the control of the test
 * that one command's hit leaves the others alone).
 */
const sharedForced = () => process.env.AGENT_SANDBOX_SHARED_BROKER_CGROUP === '1';

/**
 * Opens the limits for one sandbox of `plan`; throws SandboxError when a cgroup was made but cannot be set.
 * `broker`: the sandbox is a broker's, so its cgroup limits bound all its commands together, and say so.
 */
export function openLimits(plan: LinuxPlan, broker = false): SandboxLimits {
  const { pids, memoryBytes } = plan.limits;
  if (!pids && !memoryBytes) return rlimitOnly(0, ['resource limits: none (maxProcesses and maxMemoryMb are 0)']);
  const group = process.env.AGENT_SANDBOX_NO_CGROUP ? undefined : makeGroup(pids > 0, memoryBytes > 0);
  if (!group) {
    const notes = [
      memoryBytes
        ? `memory: ${mib(memoryBytes)} per process (RLIMIT_DATA; no cgroup could be made here)`
        : 'memory: no limit',
      pids
        ? 'processes: NOT limited (no cgroup could be made here; RLIMIT_NPROC counts all of your processes, so it ' +
          'cannot bound one sandbox)'
        : 'processes: no limit',
    ];
    return rlimitOnly(Math.ceil(memoryBytes / 1024), notes);
  }
  // A broker's group with per-command children stays unlimited itself: a limit on it would bound all its commands
  // together, so one command at its limit would starve the others.
  const perCommand = broker && group.version === 1 && !sharedForced();
  try {
    if (!perCommand) limitGroup(group, pids, memoryBytes);
  } catch (e) {
    void removeGroup(group);
    throw new SandboxError(
      SandboxErrorCode.Internal,
      `The sandbox's cgroup could not be limited (${(e as Error).message}), so nothing was run.`,
      'Set agentSandbox.maxProcesses and agentSandbox.maxMemoryMb to 0 to run without limits, or report this bug.',
      { cause: e },
    );
  }
  return cgroupLimits(group, plan.limits, broker, perCommand);
}

function limitGroup(group: Group, pids: number, memoryBytes: number, pidsExtra = 0): void {
  if (group.pidsDir && pids) fs.writeFileSync(path.join(group.pidsDir, 'pids.max'), String(pids + pidsExtra));
  if (group.memoryDir && memoryBytes) setMemory(group, memoryBytes);
}

/** Which mechanism sandboxes get on this machine, for `agent-sandbox status` (a trial cgroup, removed at once). */
export function limitsMechanism(): string {
  const group = process.env.AGENT_SANDBOX_NO_CGROUP ? undefined : makeGroup(true, true);
  if (!group) return 'RLIMIT_DATA per process for memory; processes not limited (no cgroup can be made here)';
  void removeGroup(group);
  return (
    `a cgroup per sandbox (v${group.version}, under ${group.dirs.map((d) => path.dirname(d)).join(', ')}); ` +
    `a broker's limits are ${group.version === 1 && !sharedForced() ? PER_COMMAND : BROKER_SHARED}`
  );
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1048576)} MiB`;
}

function rlimitOnly(dataKb: number, notes: string[]): SandboxLimits {
  return {
    notes,
    wrap: (file, args) =>
      dataKb ? { file: '/bin/sh', args: ['-c', LAUNCHER, 'sh', '0', String(dataKb), file, ...args] } : { file, args },
    counts: () => ({ pids: 0, oom: 0 }),
    hitsSince: () => [],
    close: () => Promise.resolve(),
  };
}

function cgroupLimits(group: Group, limits: LinuxPlan['limits'], broker: boolean, perCommand: boolean): SandboxLimits {
  const procs = group.dirs.map((d) => path.join(d, 'cgroup.procs'));
  const where = `cgroup v${group.version} ${group.dirs.join(', ')}`;
  const scope = perCommand ? PER_COMMAND : broker ? BROKER_SHARED : undefined;
  const notes = [
    `processes: at most ${limits.pids || 'unlimited'} ${scope ?? 'in the sandbox'}, threads ` + `included (${where})`,
    `memory: ${limits.memoryBytes ? mib(limits.memoryBytes) : 'unlimited'} ` +
      `${scope ?? 'for the whole sandbox'} (${where})`,
  ];
  // A shared broker's hit may come from another of its commands running at the same time.
  const whose = broker && !perCommand ? ` (the limit is ${BROKER_SHARED})` : '';
  const { counts, hitsSince } = hitCounter(group, limits, whose);
  let closing: Promise<void> | undefined;
  return {
    notes,
    wrap: (file, args) => ({
      file: '/bin/sh',
      args: ['-c', LAUNCHER, 'sh', String(procs.length), ...procs, '0', file, ...args],
    }),
    counts,
    hitsSince,
    close: () => (closing ??= removeGroup(group)),
    ...(perCommand ? { forCommand: (id, tid, runnerTids) => commandGroup(group, limits, id, tid, runnerTids) } : {}),
  };
}

/**
 * A brokered command's own group (v1): a child of each of the broker's folders, limited like a sandbox, holding the
 * runner thread that forks the command (one more task for `pids.max`). Removal moves that thread back to the
 * broker's group first, then kills whatever else is left in it (never a runner thread) and removes the folders.
 */
function commandGroup(
  parent: Group,
  limits: LinuxPlan['limits'],
  id: number,
  hostTid: number,
  runnerTids: () => Set<number>,
): CommandLimits {
  const dirs: string[] = [];
  const child = (d: string | undefined) => (d ? path.join(d, `command-${id}`) : undefined);
  const group: Group = {
    dirs,
    pidsDir: child(parent.pidsDir),
    memoryDir: child(parent.memoryDir),
    version: 1,
  };
  const remove = async () => {
    // Every runner thread still in the command's group goes back to the broker's (the forking thread, and any its
    // worker made); only ids that are still the runner's, so a thread id the kernel reused is never moved.
    const runner = runnerTids();
    const back = new Set([
      hostTid,
      ...dirs.flatMap((d) => readWords(path.join(d, 'tasks')).filter(Boolean).map(Number)),
    ]);
    for (const tid of back) if (runner.has(tid)) parent.dirs.forEach((d) => trySet(path.join(d, 'tasks'), String(tid)));
    await removeGroup(group, runnerTids);
  };
  try {
    for (const d of parent.dirs) {
      fs.mkdirSync(child(d)!);
      dirs.push(child(d)!);
    }
    limitGroup(group, limits.pids, limits.memoryBytes, 1);
    for (const d of dirs) fs.writeFileSync(path.join(d, 'tasks'), String(hostTid));
  } catch (e) {
    void remove();
    throw e;
  }
  let closing: Promise<void> | undefined;
  return { ...hitCounter(group, limits, ''), close: () => (closing ??= remove()) };
}

function hitCounter(
  group: Group,
  limits: LinuxPlan['limits'],
  whose: string,
): Pick<SandboxLimits, 'counts' | 'hitsSince'> {
  const counts = (): LimitCounts => ({
    pids: group.pidsDir ? eventCount(path.join(group.pidsDir, 'pids.events'), 'max') : 0,
    oom: group.memoryDir
      ? eventCount(path.join(group.memoryDir, group.version === 2 ? 'memory.events' : 'memory.oom_control'), 'oom_kill')
      : 0,
  });
  return {
    counts,
    hitsSince: (since) => {
      const now = counts();
      const hits: string[] = [];
      if (now.pids > since.pids)
        hits.push(`process limit reached (${limits.pids}): ${now.pids - since.pids} fork(s) refused${whose}`);
      if (now.oom > since.oom)
        hits.push(
          `memory limit reached (${mib(limits.memoryBytes)}): ${now.oom - since.oom} process(es) killed${whose}`,
        );
      return hits;
    },
  };
}

/** `key N` from a cgroup events file (0 when absent or unreadable). */
function eventCount(file: string, key: string): number {
  try {
    const m = fs.readFileSync(file, 'utf8').match(new RegExp(`^${key} (\\d+)$`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function setMemory(group: Group, bytes: number): void {
  const dir = group.memoryDir!;
  if (group.version === 2) {
    fs.writeFileSync(path.join(dir, 'memory.max'), String(bytes));
    // Swap would let the sandbox go past the limit slowly instead of being stopped.
    trySet(path.join(dir, 'memory.swap.max'), '0');
    return;
  }
  fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(bytes));
  trySet(path.join(dir, 'memory.memsw.limit_in_bytes'), String(bytes));
}

function trySet(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch {
    // Absent without swap accounting; nothing more to bound.
  }
}

// ---- Finding a cgroup we may make -------------------------------------------------------------------------------

interface Mount {
  point: string;
  root: string;
  type: string;
  options: string[];
}

function mounts(): Mount[] {
  const out: Mount[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    out.push({ root: unescape(f[3]), point: unescape(f[4]), type: r[0], options: (r[2] ?? '').split(',') });
  }
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** This process's cgroup folder in a hierarchy mounted at `m`, if its path lies under the mount's root. */
function ownDir(m: Mount, cgroupPath: string): string | undefined {
  const root = m.root === '/' ? '' : m.root;
  if (root && cgroupPath !== root && !cgroupPath.startsWith(root + '/')) return undefined;
  return path.join(m.point, cgroupPath.slice(root.length));
}

/** Makes this sandbox's cgroup(s): v2 first, then v1; undefined when neither can be made here. */
function makeGroup(wantPids: boolean, wantMemory: boolean): Group | undefined {
  let lines: string[];
  let all: Mount[];
  try {
    lines = fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
    all = mounts();
  } catch {
    return undefined;
  }
  const name = `agent-sandbox-${process.pid}-${++serial}`;
  const v2path = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const v2 = all.find((m) => m.type === 'cgroup2');
  if (v2 && v2path !== undefined) {
    const own = ownDir(v2, v2path);
    const delegated = own ? readWords(path.join(own, 'cgroup.subtree_control')) : [];
    if (own && (!wantPids || delegated.includes('pids')) && (!wantMemory || delegated.includes('memory'))) {
      const dir = tryMkdir(path.join(own, name));
      if (dir) return { dirs: [dir], pidsDir: dir, memoryDir: dir, version: 2 };
    }
  }
  const v1 = (controller: string): string | undefined => {
    const m = all.find((x) => x.type === 'cgroup' && x.options.includes(controller));
    const p = lines.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes(controller))?.[2];
    const own = m && p !== undefined ? ownDir(m, p) : undefined;
    return own ? path.join(own, name) : undefined;
  };
  const wanted = [...(wantPids ? ['pids'] : []), ...(wantMemory ? ['memory'] : [])];
  const dirs = wanted.map(v1);
  if (dirs.some((d) => !d)) return undefined;
  const made: string[] = [];
  for (const d of dirs as string[]) {
    if (!tryMkdir(d)) {
      made.forEach(tryRmdir);
      return undefined;
    }
    made.push(d);
  }
  return {
    dirs: made,
    pidsDir: wantPids ? made[0] : undefined,
    memoryDir: wantMemory ? made[made.length - 1] : undefined,
    version: 1,
  };
}

function readWords(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}

function tryMkdir(dir: string): string | undefined {
  sweepStale(path.dirname(dir));
  try {
    fs.mkdirSync(dir);
    return dir;
  } catch {
    return undefined;
  }
}

/** Removes the empty groups of host processes that died without removing theirs (a killed CLI or VS Code). */
function sweepStale(parent: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = /^agent-sandbox-(\d+)-\d+$/.exec(n)?.[1];
    if (!pid || Number(pid) === process.pid || alive(Number(pid))) continue;
    for (const c of readDirs(path.join(parent, n))) tryRmdir(path.join(parent, n, c)); // a broker's command groups
    tryRmdir(path.join(parent, n));
  }
}

function readDirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

function tryRmdir(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * The waits between attempts to remove a group, in ms: short at first, because the sandbox's last processes are
 * usually gone within a millisecond or two of bubblewrap's exit and a cold `agent-sandbox run` waits for this
 * before it exits, then 20 ms apart, about two seconds in all.
 */
export function removalWaits(): number[] {
  const waits = [1, 2, 4, 8, 16];
  while (waits.reduce((a, b) => a + b, 0) < 2000) waits.push(20);
  return waits;
}

/**
 * Kills what is left in the group and removes its folders, retrying while the killed processes drain (a folder
 * with a process in it cannot be removed); gives up after about two seconds.
 */
async function removeGroup(group: Group, spare?: () => Set<number>): Promise<void> {
  let left = group.dirs;
  for (const wait of removalWaits()) {
    // A broker's own group goes after its commands' (children keep a folder from being removed).
    left = left.filter((d) => (readDirs(d).forEach((c) => tryRmdir(path.join(d, c))), !tryRmdir(d)));
    if (!left.length) return;
    for (const d of left) {
      if (group.version === 2) trySet(path.join(d, 'cgroup.kill'), '1');
      else if (spare) {
        // A command's group: by thread (`tasks`), sparing the runner's (kill() of one thread kills its process).
        const keep = spare();
        for (const tid of readWords(path.join(d, 'tasks')).filter(Boolean))
          if (!keep.has(Number(tid))) tryKill(Number(tid));
      } else {
        // A broker's or cold sandbox's group goes whole: what is still in its commands' groups is killed too.
        for (const g of [d, ...readDirs(d).map((c) => path.join(d, c))])
          for (const pid of readWords(path.join(g, 'cgroup.procs')).filter(Boolean)) tryKill(Number(pid));
      }
    }
    await new Promise((r) => setTimeout(r, wait));
  }
  left.forEach(tryRmdir);
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

// ---- Naming a sandbox's threads on the host ----------------------------------------------------------------------

/** The last id on a /proc status file's NSpid line: the id as the innermost PID namespace sees it. */
function innermostId(statusFile: string): number | undefined {
  try {
    const m = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(statusFile, 'utf8'));
    return m ? Number(m[1].trim().split(/\s+/).pop()) : undefined;
  } catch {
    return undefined;
  }
}

/** The host PID of the process that is `nsPid` in the PID namespace `pidNs` (as /proc/PID/ns/pid names it). */
export function hostPid(pidNs: string, nsPid: number): number | undefined {
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/pid`) !== pidNs) continue;
    } catch {
      continue;
    }
    if (innermostId(`/proc/${e}/status`) === nsPid) return Number(e);
  }
  return undefined;
}

/** The host ids of process `pid`'s threads. */
export function threadsOf(pid: number): Set<number> {
  try {
    return new Set(fs.readdirSync(`/proc/${pid}/task`).map(Number));
  } catch {
    return new Set();
  }
}

/** The host id of process `pid`'s thread that is `nsTid` in the process's own PID namespace. */
export function hostTid(pid: number, nsTid: number): number | undefined {
  return [...threadsOf(pid)].find((t) => innermostId(`/proc/${pid}/task/${t}/status`) === nsTid);
}
