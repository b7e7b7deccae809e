/**
 * Applies the sandbox to the runner itself, inside bubblewrap and before any command starts: no_new_privs, a
 * non-dumpable runner (its fds stay its own), the Landlock domain (best ABI; none if the kernel lacks Landlock, which is reported), then the seccomp filter on
 * every thread. Children forked afterwards inherit all three. Throws on any failure: the caller must then exit
 * without running the command.
 */
import { cloexecAbove2 } from '../../../native-bindings/linux/fds';
import { landlockAbi, restrictSelf } from '../../../native-bindings/linux/landlock';
import { setNoNewPrivs, setNotDumpable } from '../../../native-bindings/linux/prctl';
import { installFilter } from '../../../native-bindings/linux/seccomp';
import { currentArch } from '../../../native-bindings/linux/syscall-numbers';
import { landlockLosses } from '../../sandbox/linux/landlock-losses';
import { buildSeccompProgram, encodeProgram } from '../../sandbox/linux/seccomp-program';
import type { Applied, FromRunner, RunnerSandbox } from '../../protocol/linux';

export type Failed = Extract<FromRunner, { type: 'failed' }>;

export function applySandbox(s: RunnerSandbox): Applied | Failed {
  try {
    // Whatever the caller leaked through Node and bubblewrap (a shell's `exec 200>>file`, a socket) stops here: no
    // command gets a descriptor above 2 (this runner's own IPC channel included).
    cloexecAbove2();
  } catch (e) {
    return fail(
      'internal',
      `Inherited file descriptors could not be closed: ${(e as Error).message}`,
      'Use Linux 5.11 or later (close_range), or report this bug.',
    );
  }
  if (!s.confined) return { type: 'applied', notes: ['full-access: no Landlock or seccomp applied'], landlockAbi: 0 };
  const arch = currentArch();
  if (!arch)
    return fail('seccomp-failed', `No seccomp syscall table for ${process.arch}.`, 'Use an x64 or arm64 machine.');
  let abi: number;
  try {
    abi = landlockAbi();
  } catch (e) {
    return fail(
      'native-load-failed',
      `Could not load koffi/libc in the sandbox: ${(e as Error).message}`,
      'Reinstall Agent Sandbox so node_modules/koffi is present next to dist/runner.js.',
    );
  }
  if (abi < s.requiredAbi) {
    return fail(
      'landlock-unavailable',
      `This kernel offers Landlock ABI ${abi}, below the ${s.requiredAbi} that ` +
        `requireFullLandlock asks for, so nothing was run. Lost: ${landlockLosses(abi, s.denyTcp).join('; ')}.`,
      'Use Linux 6.12 or later with Landlock enabled (lsm=landlock), or turn requireFullLandlock off to run with ' +
        'what is lost reported.',
    );
  }
  const notes: string[] = ['descriptors above 2 close-on-exec'];
  try {
    setNoNewPrivs();
    notes.push('no_new_privs set');
    // Commands run as the same user in the same Landlock domain as this runner: without this they could take its
    // IPC channel (to the backend) and other commands' stdio through /proc/PID/fd or pidfd_getfd.
    setNotDumpable();
    notes.push('runner not dumpable');
    if (abi >= 1)
      notes.push(
        ...restrictSelf(
          {
            writablePaths: s.writablePaths,
            denyTcp: s.denyTcp,
            connectTcpPorts: s.connectTcpPorts,
            scope: true,
            denyRead: s.denyRead,
          },
          abi,
        ).applied,
      );
    else notes.push('Landlock unavailable on this kernel: bubblewrap mounts only');
  } catch (e) {
    return fail(
      'landlock-unavailable',
      `Landlock could not be applied: ${(e as Error).message}`,
      'Use a kernel with Landlock enabled (lsm=landlock), or report this bug.',
    );
  }
  try {
    installFilter(encodeProgram(buildSeccompProgram(s.seccomp, arch)));
    notes.push(
      `seccomp: deny ${[...s.seccomp.denySyscalls, ...s.seccomp.denyIoctls.map((i) => `ioctl(${i})`)].join(', ')}` +
        (s.seccomp.allowSocketFamilies ? `; socket() only for ${s.seccomp.allowSocketFamilies.join(', ')}` : ''),
    );
  } catch (e) {
    return fail(
      'seccomp-failed',
      `The seccomp filter could not be installed: ${(e as Error).message}`,
      'Use a kernel with CONFIG_SECCOMP_FILTER, or report this bug.',
    );
  }
  return { type: 'applied', notes, landlockAbi: abi };
}

function fail(code: Failed['code'], message: string, fix: string): Failed {
  return { type: 'failed', code, message, fix };
}
