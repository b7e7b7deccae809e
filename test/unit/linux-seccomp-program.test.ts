/**
 * The seccomp BPF builder, run through a small classic-BPF interpreter (the subset the builder emits) against
 * synthetic `seccomp_data`: denied syscalls, ioctl requests (including high bits set above the 32 the kernel
 * uses), socket families, foreign architectures and x32 numbers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AUDIT_ARCH, syscallNumber, type LinuxArch } from '../../native-bindings/linux/syscall-numbers';
import {
  BPF,
  buildSeccompProgram,
  EAFNOSUPPORT,
  encodeProgram,
  EPERM,
  SECCOMP_RET,
  type BpfInsn,
} from '../../src/sandbox/linux/seccomp-program';

interface Data {
  nr: number;
  arch: number;
  args?: bigint[];
}

/** Executes `prog` on `d` like the kernel would (LD W ABS, JEQ/JGE K, RET K only). */
function execute(prog: BpfInsn[], d: Data): number {
  const mem = Buffer.alloc(64);
  mem.writeInt32LE(d.nr, 0);
  mem.writeUInt32LE(d.arch, 4);
  (d.args ?? []).forEach((a, i) => mem.writeBigUInt64LE(a, 16 + 8 * i));
  let acc = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const ins = prog[pc];
    switch (ins.code) {
      case BPF.LD_W_ABS:
        acc = mem.readUInt32LE(ins.k);
        break;
      case BPF.JEQ_K:
        pc += acc === ins.k ? ins.jt : ins.jf;
        break;
      case BPF.JGE_K:
        pc += acc >>> 0 >= ins.k ? ins.jt : ins.jf;
        break;
      case BPF.AND_K:
        acc = (acc & ins.k) >>> 0;
        break;
      case BPF.RET_K:
        return ins.k;
      default:
        throw new Error(`unexpected opcode ${ins.code}`);
    }
  }
  throw new Error('fell off the end of the program');
}

const offline = {
  denySyscalls: ['ptrace', 'process_vm_readv', 'process_vm_writev', 'io_uring_setup'],
  denyIoctls: ['TIOCSTI', 'TIOCLINUX'],
  allowSocketFamilies: ['AF_UNIX'],
};
const online = { ...offline, allowSocketFamilies: null };

for (const arch of ['x64', 'arm64'] as LinuxArch[]) {
  describe(`seccomp program (${arch})`, () => {
    const prog = buildSeccompProgram(offline, arch);
    const A = AUDIT_ARCH[arch];
    const nr = (n: string) => syscallNumber(arch, n);
    const ERRNO = (e: number) => (SECCOMP_RET.ERRNO | e) >>> 0;

    it('denies listed syscalls with EPERM and allows others', () => {
      for (const n of offline.denySyscalls) assert.equal(execute(prog, { nr: nr(n), arch: A }), ERRNO(EPERM), n);
      assert.equal(execute(prog, { nr: nr('prctl'), arch: A }), SECCOMP_RET.ALLOW);
      assert.equal(execute(prog, { nr: 0, arch: A }), SECCOMP_RET.ALLOW);
    });

    it('denies TIOCSTI and TIOCLINUX, also with high bits set; other ioctls pass', () => {
      const ioctl = nr('ioctl');
      assert.equal(execute(prog, { nr: ioctl, arch: A, args: [0n, 0x5412n] }), ERRNO(EPERM));
      assert.equal(execute(prog, { nr: ioctl, arch: A, args: [0n, 0x1_0000_5412n] }), ERRNO(EPERM));
      assert.equal(execute(prog, { nr: ioctl, arch: A, args: [0n, 0x541cn] }), ERRNO(EPERM));
      assert.equal(execute(prog, { nr: ioctl, arch: A, args: [0n, 0x5413n] }), SECCOMP_RET.ALLOW, 'TIOCGWINSZ');
    });

    it('offline: socket() only for AF_UNIX, EAFNOSUPPORT otherwise', () => {
      const socket = nr('socket');
      assert.equal(execute(prog, { nr: socket, arch: A, args: [1n] }), SECCOMP_RET.ALLOW);
      for (const fam of [2n, 10n, 16n, 17n, 0x1_0000_0001n + 1n]) {
        assert.equal(execute(prog, { nr: socket, arch: A, args: [fam] }), ERRNO(EAFNOSUPPORT), String(fam));
      }
    });

    it('online: socket() is not filtered', () => {
      const p = buildSeccompProgram(online, arch);
      assert.equal(execute(p, { nr: nr('socket'), arch: A, args: [2n] }), SECCOMP_RET.ALLOW);
      assert.equal(execute(p, { nr: nr('ptrace'), arch: A }), ERRNO(EPERM));
    });

    it('kills foreign-architecture system calls', () => {
      assert.equal(execute(prog, { nr: 26, arch: 0x40000003 /* i386 */ }), SECCOMP_RET.KILL_PROCESS);
    });

    it('encodes 8 bytes per instruction, little-endian', () => {
      const buf = encodeProgram(prog);
      assert.equal(buf.length, prog.length * 8);
      assert.equal(buf.readUInt16LE(0), prog[0].code);
      assert.equal(buf.readUInt32LE(4), prog[0].k);
    });
  });
}

describe('seccomp program, allowlist: AF_INET/AF_INET6 only as TCP streams', () => {
  const rules = { ...offline, tcpOnlySocketFamilies: ['AF_INET', 'AF_INET6'] };
  for (const arch of ['x64', 'arm64'] as LinuxArch[]) {
    const prog = buildSeccompProgram(rules, arch);
    const A = AUDIT_ARCH[arch];
    const socket = syscallNumber(arch, 'socket');
    const call = (fam: bigint, type: bigint, proto: bigint) =>
      execute(prog, { nr: socket, arch: A, args: [fam, type, proto] });
    const refused = (SECCOMP_RET.ERRNO | EAFNOSUPPORT) >>> 0;
    it(`${arch}: TCP (with SOCK_NONBLOCK|SOCK_CLOEXEC, protocol 0 or 6) passes; UDP, raw, SCTP, MPTCP and other families fail`, () => {
      const NONBLOCK_CLOEXEC = 0o4000n | 0o2000000n;
      assert.equal(call(2n, 1n, 0n), SECCOMP_RET.ALLOW);
      assert.equal(call(10n, 1n | NONBLOCK_CLOEXEC, 6n), SECCOMP_RET.ALLOW);
      assert.equal(call(1n, 2n, 0n), SECCOMP_RET.ALLOW, 'AF_UNIX datagrams stay allowed');
      assert.equal(call(2n, 2n, 0n), refused, 'UDP');
      assert.equal(call(10n, 2n | NONBLOCK_CLOEXEC, 17n), refused, 'UDP6');
      assert.equal(call(2n, 3n, 1n), refused, 'raw ICMP');
      assert.equal(call(2n, 1n, 132n), refused, 'SCTP stream');
      assert.equal(call(2n, 1n, 262n), refused, 'MPTCP');
      assert.equal(call(16n, 3n, 0n), refused, 'netlink');
      assert.equal(call(17n, 3n, 0n), refused, 'packet');
    });
  }
});

describe('seccomp program (x64 only)', () => {
  it('kills x32-ABI system calls', () => {
    const prog = buildSeccompProgram(offline, 'x64');
    assert.equal(execute(prog, { nr: 0x40000000 + 101, arch: AUDIT_ARCH.x64 }), SECCOMP_RET.KILL_PROCESS);
  });

  it('refuses unknown syscall, ioctl and family names instead of dropping the rule', () => {
    assert.throws(() => buildSeccompProgram({ ...offline, denySyscalls: ['nope'] }, 'x64'), /nope/);
    assert.throws(() => buildSeccompProgram({ ...offline, denyIoctls: ['NOPE'] }, 'x64'), /NOPE/);
    assert.throws(() => buildSeccompProgram({ ...offline, allowSocketFamilies: ['AF_NOPE'] }, 'x64'), /AF_NOPE/);
  });
});
