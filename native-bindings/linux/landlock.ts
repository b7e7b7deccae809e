/**
 * Landlock (Linux 5.13+) through raw syscalls: probe the ABI, and restrict the calling thread (and the children
 * it forks afterwards) so that writes are allowed only beneath given paths, and reads of credential locations created
 * after that are denied. Optionally restricts TCP bind/connect (ABI 4+) and scopes abstract Unix sockets and signals
 * to the domain (ABI 6+). Loads koffi on first call only.
 * Must never report a restriction it did not apply.
 */
import * as fs from 'node:fs';
import { closeFd, ErrnoError, syscall } from './libc';
import { addReadRules, READ_ACCESS, readChains } from './read-rules';
import { currentArch, syscallNumber } from './syscall-numbers';

/** Filesystem access rights (`LANDLOCK_ACCESS_FS_*`). */
export const FsAccess = {
  EXECUTE: 1 << 0,
  WRITE_FILE: 1 << 1,
  READ_FILE: 1 << 2,
  READ_DIR: 1 << 3,
  REMOVE_DIR: 1 << 4,
  REMOVE_FILE: 1 << 5,
  MAKE_CHAR: 1 << 6,
  MAKE_DIR: 1 << 7,
  MAKE_REG: 1 << 8,
  MAKE_SOCK: 1 << 9,
  MAKE_FIFO: 1 << 10,
  MAKE_BLOCK: 1 << 11,
  MAKE_SYM: 1 << 12,
  REFER: 1 << 13, // ABI 2
  TRUNCATE: 1 << 14, // ABI 3
} as const;

const NET_BIND_TCP = 1n << 0n;
const NET_CONNECT_TCP = 1n << 1n;
const SCOPE_ABSTRACT_UNIX_SOCKET = 1n << 0n;
const SCOPE_SIGNAL = 1n << 1n;
const CREATE_RULESET_VERSION = 1;
const RULE_PATH_BENEATH = 1;
const RULE_NET_PORT = 2;
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;

/** Every right that modifies the filesystem, for a given ABI. Reads are handled only with `denyRead`. */
export function writeAccess(abi: number): number {
  let mask =
    FsAccess.WRITE_FILE |
    FsAccess.REMOVE_DIR |
    FsAccess.REMOVE_FILE |
    FsAccess.MAKE_CHAR |
    FsAccess.MAKE_DIR |
    FsAccess.MAKE_REG |
    FsAccess.MAKE_SOCK |
    FsAccess.MAKE_FIFO |
    FsAccess.MAKE_BLOCK |
    FsAccess.MAKE_SYM;
  if (abi >= 2) mask |= FsAccess.REFER;
  if (abi >= 3) mask |= FsAccess.TRUNCATE;
  return mask;
}

function nr(name: string): number {
  const arch = currentArch();
  if (!arch) throw new ErrnoError(`${name} (unsupported architecture ${process.arch})`, 38);
  return syscallNumber(arch, name);
}

/** The best Landlock ABI the kernel offers, or 0 when Landlock is unavailable (ENOSYS/EOPNOTSUPP). */
export function landlockAbi(): number {
  try {
    return syscall(
      'landlock_create_ruleset',
      nr('landlock_create_ruleset'),
      ['void *', null],
      ['size_t', 0],
      ['uint32_t', CREATE_RULESET_VERSION],
    );
  } catch (e) {
    if (e instanceof ErrnoError) return 0;
    throw e;
  }
}

export interface LandlockRequest {
  /** Paths (as seen by this process) beneath which writes stay allowed. Missing paths are skipped. */
  writablePaths: string[];
  /** ABI 4+: deny every TCP bind and connect (no port is allowed). */
  denyTcp: boolean;
  /** ABI 4+: deny every TCP bind, and connect except to these ports (ignored when `denyTcp`). */
  connectTcpPorts?: number[];
  /** ABI 6+: scope abstract Unix sockets and signals to this domain. */
  scope: boolean;
  /**
   * Credential locations (`denyRead`): reads are handled too, and granted only on what exists now outside them, so
   * one created later in their folders cannot be read (see read-rules.ts). Omitted or empty: reads stay unrestricted.
   */
  denyRead?: string[];
}

export interface LandlockResult {
  abi: number;
  /** Human-readable list of what was restricted. */
  applied: string[];
  /** Writable paths that did not exist and got no rule. */
  skipped: string[];
}

/**
 * Restricts the calling thread. The caller must set PR_SET_NO_NEW_PRIVS first (or hold CAP_SYS_ADMIN).
 * Throws ErrnoError on any failure after the ruleset was created, so a half-applied domain is never reported.
 */
export function restrictSelf(req: LandlockRequest, abi = landlockAbi()): LandlockResult {
  if (abi < 1) throw new ErrnoError('landlock_create_ruleset', 38);
  const { locations, chains } = readChains(req.denyRead ?? [], req.writablePaths);
  const handledFs = writeAccess(abi) | (chains.length ? READ_ACCESS : 0);
  const connectPorts = !req.denyTcp && abi >= 4 ? req.connectTcpPorts : undefined;
  const denyTcp = (req.denyTcp || connectPorts !== undefined) && abi >= 4;
  const scope = req.scope && abi >= 6;
  const attr = Buffer.alloc(24);
  attr.writeBigUInt64LE(BigInt(handledFs), 0);
  attr.writeBigUInt64LE(denyTcp ? NET_BIND_TCP | NET_CONNECT_TCP : 0n, 8);
  attr.writeBigUInt64LE(scope ? SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL : 0n, 16);
  const size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
  const rulesetFd = syscall(
    'landlock_create_ruleset',
    nr('landlock_create_ruleset'),
    ['void *', attr],
    ['size_t', size],
    ['uint32_t', 0],
  );
  try {
    const skipped = addWritableRules(rulesetFd, req.writablePaths, handledFs);
    const walked = chains.length
      ? addReadRules(locations, chains, (fd, access) => addPathRule(rulesetFd, fd, access))
      : [];
    for (const port of connectPorts ?? []) addConnectPortRule(rulesetFd, port);
    syscall('landlock_restrict_self', nr('landlock_restrict_self'), ['int', rulesetFd], ['uint32_t', 0]);
    const applied = [
      `Landlock ABI ${abi}: writes only beneath ${req.writablePaths.filter((p) => !skipped.includes(p)).join(', ')}`,
    ];
    if (connectPorts) applied.push(`Landlock: TCP bind denied; connect only to port(s) ${connectPorts.join(', ')}`);
    else if (denyTcp) applied.push('Landlock: TCP bind/connect denied');
    if (scope) applied.push('Landlock: abstract Unix sockets and signals scoped to the sandbox');
    if (walked.length) applied.push(`Landlock: reads of entries created after start denied in ${walked.join(', ')}`);
    return { abi, applied, skipped };
  } finally {
    closeFd(rulesetFd);
  }
}

function addWritableRules(rulesetFd: number, paths: string[], handledFs: number): string[] {
  const skipped: string[] = [];
  for (const p of paths) {
    let fd: number;
    try {
      fd = fs.openSync(p, O_PATH | O_CLOEXEC);
    } catch {
      skipped.push(p);
      continue;
    }
    try {
      const isDir = fs.fstatSync(fd).isDirectory();
      addPathRule(rulesetFd, fd, isDir ? handledFs : handledFs & fileRights());
    } finally {
      fs.closeSync(fd);
    }
  }
  return skipped;
}

function addPathRule(rulesetFd: number, fd: number, access: number): void {
  // struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd.
  const rule = Buffer.alloc(12);
  rule.writeBigUInt64LE(BigInt(access), 0);
  rule.writeInt32LE(fd, 8);
  syscall(
    'landlock_add_rule',
    nr('landlock_add_rule'),
    ['int', rulesetFd],
    ['uint32_t', RULE_PATH_BENEATH],
    ['void *', rule],
    ['uint32_t', 0],
  );
}

function addConnectPortRule(rulesetFd: number, port: number): void {
  // struct landlock_net_port_attr is packed: u64 allowed_access, u64 port.
  const rule = Buffer.alloc(16);
  rule.writeBigUInt64LE(NET_CONNECT_TCP, 0);
  rule.writeBigUInt64LE(BigInt(port), 8);
  syscall(
    'landlock_add_rule',
    nr('landlock_add_rule'),
    ['int', rulesetFd],
    ['uint32_t', RULE_NET_PORT],
    ['void *', rule],
    ['uint32_t', 0],
  );
}

/** Rights that make sense on a file (not a directory) rule. */
function fileRights(): number {
  return FsAccess.EXECUTE | FsAccess.WRITE_FILE | FsAccess.READ_FILE | FsAccess.TRUNCATE;
}
