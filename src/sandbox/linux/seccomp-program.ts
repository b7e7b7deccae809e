/**
 * Builds the sandbox's seccomp filter as a classic-BPF program from a plan's `seccomp` section. Pure: no native
 * code, so unit tests can run the program through an interpreter. Foreign-architecture and x32 system calls kill
 * the process (they would bypass the number checks). Every jump goes forward: checks first, then the ioctl and
 * socket argument blocks, then the shared KILL and EPERM returns. Must never allow before every deny rule was checked.
 */
import {
  AF,
  AUDIT_ARCH,
  IOCTL,
  syscallNumber,
  X32_SYSCALL_BIT,
  type LinuxArch,
} from '../../../native-bindings/linux/syscall-numbers';
import type { LinuxPlan } from '../../policy/plan';

export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  ERRNO: 0x00050000,
  ALLOW: 0x7fff0000,
} as const;
export const EPERM = 1;
export const EAFNOSUPPORT = 97;
const SOCK_STREAM = 1;
/** The socket type without SOCK_NONBLOCK / SOCK_CLOEXEC. */
const SOCK_TYPE_MASK = 0xf;
const IPPROTO_TCP = 6;

/** Offsets into `struct seccomp_data`. Argument words are the low 32 bits (little-endian). */
export const SECCOMP_DATA = { nr: 0, arch: 4, argLow: (i: number) => 16 + 8 * i } as const;

export const BPF = {
  LD_W_ABS: 0x20,
  JEQ_K: 0x15,
  JGE_K: 0x35,
  AND_K: 0x54,
  RET_K: 0x06,
} as const;

export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

type Label = 'allow' | 'kill' | 'eperm' | 'ioctl' | 'socket' | 'tcp' | 'refuse';
interface Pending {
  code: number;
  k: number;
  jt?: Label;
  jf?: Label;
}

/** The filter for `rules` on `arch`, as instructions. */
export function buildSeccompProgram(rules: LinuxPlan['seccomp'], arch: LinuxArch): BpfInsn[] {
  const out: Pending[] = [];
  const labels = new Map<Label, number>();
  const ld = (offset: number) => out.push({ code: BPF.LD_W_ABS, k: offset });
  const jeq = (k: number, jt: Label) => out.push({ code: BPF.JEQ_K, k, jt });
  const ret = (k: number) => out.push({ code: BPF.RET_K, k });
  const mark = (l: Label) => labels.set(l, out.length);

  ld(SECCOMP_DATA.arch);
  out.push({ code: BPF.JEQ_K, k: AUDIT_ARCH[arch], jf: 'kill' });
  ld(SECCOMP_DATA.nr);
  if (arch === 'x64') out.push({ code: BPF.JGE_K, k: X32_SYSCALL_BIT, jt: 'kill' });
  for (const name of rules.denySyscalls) jeq(syscallNumber(arch, name), 'eperm');
  if (rules.denyIoctls.length) jeq(syscallNumber(arch, 'ioctl'), 'ioctl');
  if (rules.allowSocketFamilies) jeq(syscallNumber(arch, 'socket'), 'socket');
  ret(SECCOMP_RET.ALLOW);
  if (rules.denyIoctls.length) {
    mark('ioctl');
    ld(SECCOMP_DATA.argLow(1));
    for (const name of rules.denyIoctls) jeq(ioctlNumber(name), 'eperm');
    ret(SECCOMP_RET.ALLOW);
  }
  if (rules.allowSocketFamilies) {
    const tcpOnly = rules.tcpOnlySocketFamilies ?? [];
    mark('socket');
    ld(SECCOMP_DATA.argLow(0));
    for (const fam of rules.allowSocketFamilies) jeq(familyNumber(fam), 'allow');
    for (const fam of tcpOnly) jeq(familyNumber(fam), 'tcp');
    ret(SECCOMP_RET.ERRNO | EAFNOSUPPORT);
    if (tcpOnly.length) {
      // A TCP stream only: type SOCK_STREAM (flags masked off) and protocol 0 or IPPROTO_TCP (not SCTP, not MPTCP).
      mark('tcp');
      ld(SECCOMP_DATA.argLow(1));
      out.push({ code: BPF.AND_K, k: SOCK_TYPE_MASK });
      out.push({ code: BPF.JEQ_K, k: SOCK_STREAM, jf: 'refuse' });
      ld(SECCOMP_DATA.argLow(2));
      jeq(0, 'allow');
      jeq(IPPROTO_TCP, 'allow');
      mark('refuse');
      ret(SECCOMP_RET.ERRNO | EAFNOSUPPORT);
    }
    mark('allow');
    ret(SECCOMP_RET.ALLOW);
  }
  mark('kill');
  ret(SECCOMP_RET.KILL_PROCESS);
  mark('eperm');
  ret(SECCOMP_RET.ERRNO | EPERM);
  return out.map((p, i) => ({ code: p.code, k: p.k >>> 0, jt: offset(labels, p.jt, i), jf: offset(labels, p.jf, i) }));
}

function offset(labels: Map<Label, number>, label: Label | undefined, at: number): number {
  if (label === undefined) return 0;
  const target = labels.get(label);
  if (target === undefined) throw new Error(`seccomp program: unresolved label ${label}`);
  const rel = target - (at + 1);
  if (rel < 0 || rel > 255) throw new Error(`seccomp program: jump to ${label} out of range (${rel})`);
  return rel;
}

function ioctlNumber(name: string): number {
  const n = IOCTL[name];
  if (n === undefined) throw new Error(`seccomp program: unknown ioctl ${name}`);
  return n;
}

function familyNumber(name: string): number {
  const n = AF[name];
  if (n === undefined) throw new Error(`seccomp program: unknown address family ${name}`);
  return n;
}

/** Serializes instructions as `struct sock_filter[]` (little-endian). */
export function encodeProgram(insns: BpfInsn[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((ins, i) => {
    buf.writeUInt16LE(ins.code, i * 8);
    buf.writeUInt8(ins.jt, i * 8 + 2);
    buf.writeUInt8(ins.jf, i * 8 + 3);
    buf.writeUInt32LE(ins.k, i * 8 + 4);
  });
  return buf;
}
