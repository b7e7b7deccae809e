/**
 * A probe run as a plain program (inside or outside the sandbox) that attempts one raw operation and prints
 * SUCCEEDED or DENIED <errno name>. Used by the native tests for operations no shell tool does directly.
 * Usage: node probe-inside.js ptrace PID | vmread PID | tiocsti | getfd PID:FD
 */
import { ErrnoError, syscall } from '../../../native-bindings/linux/libc';
import { currentArch, IOCTL, syscallNumber } from '../../../native-bindings/linux/syscall-numbers';

const PTRACE_ATTACH = 16;

function attempt(op: string, arg: string | undefined): void {
  const arch = currentArch()!;
  switch (op) {
    case 'ptrace':
      syscall(
        'ptrace',
        syscallNumber(arch, 'ptrace'),
        ['long', PTRACE_ATTACH],
        ['long', Number(arg)],
        ['long', 0],
        ['long', 0],
      );
      return;
    case 'vmread': {
      const local = Buffer.alloc(16);
      syscall(
        'process_vm_readv',
        syscallNumber(arch, 'process_vm_readv'),
        ['long', Number(arg)],
        ['void *', local],
        ['long', 0],
        ['void *', local],
        ['long', 0],
        ['long', 0],
      );
      return;
    }
    case 'tiocsti': {
      const c = Buffer.from(' ');
      syscall('ioctl', syscallNumber(arch, 'ioctl'), ['int', 0], ['long', IOCTL.TIOCSTI], ['void *', c]);
      return;
    }
    case 'getfd': {
      const [pid, fd] = String(arg).split(':').map(Number);
      const pidfd = syscall('pidfd_open', syscallNumber(arch, 'pidfd_open'), ['long', pid], ['long', 0]);
      syscall('pidfd_getfd', syscallNumber(arch, 'pidfd_getfd'), ['long', pidfd], ['long', fd], ['long', 0]);
      return;
    }
    default:
      throw new Error(`unknown probe ${op}`);
  }
}

if (require.main === module && process.argv[2]) {
  try {
    attempt(process.argv[2], process.argv[3]);
    console.log('SUCCEEDED');
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    console.log(`DENIED ${e.message}`);
  }
}
