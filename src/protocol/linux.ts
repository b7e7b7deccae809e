/**
 * Messages between the Linux backend and its runner over Node's IPC channel (a Unix socketpair that survives
 * bubblewrap as fd 3). Types only. The runner receives its configuration here rather than in its environment, so
 * nothing like NODE_OPTIONS from the user can run before the sandbox is applied.
 */
import type { LinuxPlan } from '../policy/plan';

/** The loopback relay inside the sandbox: listens on `host`:port and pipes each connection to the proxy's socket. */
export interface RelaySpec {
  host: string;
  listen: { port: number; socket: string }[];
}

/** What the runner applies to itself before starting any command. */
export interface RunnerSandbox {
  /** False for full-access: apply nothing. */
  confined: boolean;
  writablePaths: string[];
  /** Credential locations: Landlock denies reads of any created later in their folders (see landlock/read-rules). */
  denyRead: string[];
  /** Offline: also deny TCP bind/connect with Landlock (defence in depth behind the socket filter). */
  denyTcp: boolean;
  seccomp: LinuxPlan['seccomp'];
  /** Refuse (report `failed`, run nothing) when the kernel's Landlock ABI is below this. */
  requiredAbi: number;
  /** Allowlist (ABI 4+): TCP bind denied, connect only to these ports. */
  connectTcpPorts?: number[];
  /** Allowlist: the loopback relay to the proxy, started before the sandbox is applied. */
  relay?: RelaySpec;
}

export interface CommandRequest {
  id: number;
  argv: string[];
  cwd: string;
  /** The command's complete environment (already scrubbed by the backend). */
  env: Record<string, string>;
}

/**
 * The broker runner's descriptor channel: a seqpacket socket at this fd number, over which the backend passes a
 * command's own stdin, stdout, stderr (SCM_RIGHTS) when they are not sockets Node's IPC could carry (a terminal,
 * a file, a pipe). Close-on-exec in the runner, like every descriptor above 2.
 */
export const FD_CHANNEL = 5;

export type ToRunner =
  /** Apply the sandbox, run one command on the runner's own stdio, exit with its code. */
  | { type: 'once'; sandbox: RunnerSandbox; command: CommandRequest }
  /** Apply the sandbox and serve `spawn` requests until the channel closes. */
  | { type: 'broker'; sandbox: RunnerSandbox }
  /** Broker: one of a command's stdio sockets, sent as the message's handle; `spawn` follows. */
  | { type: 'stdio'; id: number; index: 0 | 1 | 2 }
  /**
   * `fds`: the command's stdin, stdout, stderr were sent just before on the runner's descriptor channel
   * (`FD_CHANNEL`, one packet naming the command's id), in place of `stdio` sockets (the CLI's fast client).
   * `place`: the command gets its own cgroup; the runner asks for it (`place`) before forking the command.
   */
  | { type: 'spawn'; command: CommandRequest; fds?: boolean; place?: boolean }
  /** Broker: the runner thread named in `place` is in the command's cgroup (or `error` says why it is not). */
  | { type: 'placed'; id: number; error?: string }
  /** Broker: kill a command's whole process group and anything still carrying its marker. */
  | { type: 'kill'; id: number };

export type FromRunner =
  | { type: 'applied'; notes: string[]; landlockAbi: number }
  | {
      type: 'failed';
      code: 'landlock-unavailable' | 'seccomp-failed' | 'native-load-failed' | 'broker-failed' | 'internal';
      message: string;
      fix: string;
    }
  /** `served`: brokers count the commands they started (for `agent-sandbox broker status`). */
  | { type: 'started'; id: number; served?: number }
  | { type: 'exit'; id: number; code: number; signal?: string }
  /**
   * Broker: move thread `tid` (about to fork command `id`) into the command's cgroup; ids as the runner sees them
   * (`pid` the runner's, `pidNs` its PID namespace as /proc/self/ns/pid names it). Answered by `placed`.
   */
  | { type: 'place'; id: number; tid: number; pid: number; pidNs: string };

/** What the runner applied to itself, reported before any command starts. */
export type Applied = Extract<FromRunner, { type: 'applied' }>;

/** Environment variable marking every process of one brokered command, so the broker can sweep daemons. */
export const COMMAND_MARKER = 'AGENT_SANDBOX_COMMAND_ID';
