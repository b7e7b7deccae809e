/**
 * Process creation for the sandbox: CreateProcessAsUserW with STARTUPINFOEXW and a proc-thread attribute list
 * (handle list = exactly the child's stdio, job list = the kill-on-close job, or a pseudoconsole), a Unicode
 * environment block, and an asynchronous exit wait that never blocks the event loop.
 * Must never let a child run outside its job: the child is created suspended, its job membership is checked
 * (IsProcessInJob) and, only if the job-list attribute was not honoured, assigned before it is resumed.
 */
import { checkBool, lastError, Win32Error, WinError } from './errors';
import { Handle, NativeOwner, closeAll } from './handle';
import { koffi, lazyFn, wide } from './lib';
import type { Job } from './job';
import { declareStructs, decodeStruct, encodeStruct, structSize } from './structs';
import { waitForSignal } from './wait';

const InitializeProcThreadAttributeList = lazyFn(
  'kernel32.dll',
  'bool InitializeProcThreadAttributeList(void *list, uint32 count, uint32 flags, _Inout_ size_t *size)',
);
const UpdateProcThreadAttribute = lazyFn(
  'kernel32.dll',
  'bool UpdateProcThreadAttribute(void *list, uint32 flags, uintptr_t attr, void *value, size_t size, void *prev, void *retSize)',
);
const DeleteProcThreadAttributeList = lazyFn('kernel32.dll', 'void DeleteProcThreadAttributeList(void *list)');
const CreateProcessAsUserW = lazyFn(
  'advapi32.dll',
  'bool CreateProcessAsUserW(void *token, str16 app, void *cmdLine, ' +
    'void *procSa, void *threadSa, bool inherit, uint32 flags, void *env, str16 cwd, void *si, _Out_ void *pi)',
  declareStructs,
);
const ResumeThread = lazyFn('kernel32.dll', 'uint32 ResumeThread(void *thread)');
const TerminateProcess = lazyFn('kernel32.dll', 'bool TerminateProcess(void *process, uint32 code)');
const GetExitCodeProcess = lazyFn('kernel32.dll', 'bool GetExitCodeProcess(void *process, _Out_ uint32 *code)');
const IsProcessInJob = lazyFn('kernel32.dll', 'bool IsProcessInJob(void *process, void *job, _Out_ int *result)');
const SetHandleInformation = lazyFn('kernel32.dll', 'bool SetHandleInformation(void *h, uint32 mask, uint32 flags)');

export const ProcThreadAttribute = { HANDLE_LIST: 0x20002, JOB_LIST: 0x2000d, PSEUDOCONSOLE: 0x20016 } as const;
export const CreationFlags = {
  CREATE_SUSPENDED: 0x4,
  CREATE_NEW_PROCESS_GROUP: 0x200,
  CREATE_UNICODE_ENVIRONMENT: 0x400,
  EXTENDED_STARTUPINFO_PRESENT: 0x80000,
  CREATE_BREAKAWAY_FROM_JOB: 0x01000000,
  CREATE_NO_WINDOW: 0x08000000,
} as const;
const STARTF_USESTDHANDLES = 0x100;
const HANDLE_FLAG_INHERIT = 0x1;
const STILL_ACTIVE = 259;

/** An initialized PROC_THREAD_ATTRIBUTE_LIST. Keeps every value buffer alive until `close()`. */
export class AttributeList {
  readonly buffer: Buffer;
  private readonly values: Buffer[] = [];
  private readonly owner: NativeOwner;

  constructor(count: number) {
    const size = [0];
    InitializeProcThreadAttributeList(null, count, 0, size);
    if (!size[0]) throw new Win32Error('InitializeProcThreadAttributeList', lastError());
    this.buffer = Buffer.alloc(size[0]);
    checkBool('InitializeProcThreadAttributeList', InitializeProcThreadAttributeList(this.buffer, count, 0, size));
    this.owner = new NativeOwner(koffi().address(this.buffer), 'attribute list', () =>
      DeleteProcThreadAttributeList(this.buffer),
    );
  }

  /** Adds an attribute whose value is an array of handles (HANDLE_LIST, JOB_LIST). */
  setHandles(attribute: number, handles: bigint[]): void {
    const value = Buffer.alloc(8 * handles.length);
    handles.forEach((h, i) => value.writeBigUInt64LE(BigInt.asUintN(64, h), i * 8));
    this.values.push(value);
    checkBool(
      'UpdateProcThreadAttribute',
      UpdateProcThreadAttribute(this.buffer, 0, attribute, value, value.length, null, null),
      `attribute 0x${attribute.toString(16)}`,
    );
  }

  /** Adds the pseudoconsole attribute (its value is the HPCON itself). */
  setPseudoConsole(hpc: bigint): void {
    checkBool(
      'UpdateProcThreadAttribute',
      UpdateProcThreadAttribute(this.buffer, 0, ProcThreadAttribute.PSEUDOCONSOLE, hpc, 8, null, null),
      'PSEUDOCONSOLE',
    );
  }

  close(): void {
    this.owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Marks a handle inheritable (it must be, to appear in a HANDLE_LIST). */
export function setInheritable(h: bigint, inherit: boolean): void {
  checkBool('SetHandleInformation', SetHandleInformation(h, HANDLE_FLAG_INHERIT, inherit ? HANDLE_FLAG_INHERIT : 0));
}

/**
 * A UTF-16 environment block, sorted as Windows expects: case-insensitive, by UTF-16 code unit, without regard to
 * locale (localeCompare would put `_` and digits elsewhere).
 */
export function environmentBlock(env: Record<string, string>): Buffer {
  const entries = Object.entries(env).sort(([a], [b]) => ordinalUpper(a, b));
  return Buffer.concat([...entries.map(([k, v]) => wide(`${k}=${v}`)), Buffer.from([0, 0])]);
}

function ordinalUpper(a: string, b: string): number {
  const x = a.toUpperCase();
  const y = b.toUpperCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

export interface CreateProcessOptions {
  token: Handle;
  commandLine: string;
  cwd: string;
  env: Record<string, string>;
  /**
   * The child's stdin/stdout/stderr (made inheritable and listed in the handle list). With `pseudoConsole` as well,
   * the child has a console (the pseudoconsole's) and still writes stdout and stderr to these separate pipes.
   */
  stdio?: [bigint, bigint, bigint];
  /** The console the child attaches to. Without one the child gets none (CREATE_NO_WINDOW). */
  pseudoConsole?: bigint;
  /** STARTUPINFO.lpDesktop (`WinSta0\<name>`); omitted, the child inherits this process's desktop. */
  desktop?: string;
  /** CREATE_BREAKAWAY_FROM_JOB: leave this process's own job (it allows breakaway) so `job` need not nest in it. */
  breakaway?: boolean;
  job: Job;
}

/** How the child entered its job: from birth (JOB_LIST) or assigned while suspended (attribute unsupported). */
export type JobPlacement = 'job-list' | 'assigned-while-suspended';

export class ChildProcess {
  constructor(
    readonly process: Handle,
    readonly pid: number,
    readonly jobPlacement: JobPlacement,
  ) {}

  /** Resolves with the exit code once the process ends (a registered wait: no libuv pool thread is held). */
  async wait(): Promise<number> {
    await waitForSignal(this.process.value);
    return this.exitCode() ?? STILL_ACTIVE;
  }

  /** The exit code, or undefined while running. */
  exitCode(): number | undefined {
    const code = [0];
    checkBool('GetExitCodeProcess', GetExitCodeProcess(this.process.value, code));
    return code[0] === STILL_ACTIVE ? undefined : code[0];
  }

  terminate(code: number): void {
    checkBool('TerminateProcess', TerminateProcess(this.process.value, code >>> 0));
  }

  close(): void {
    this.process.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** IsProcessInJob. */
export function isProcessInJob(process: Handle, job: Job): boolean {
  const r = [0];
  checkBool('IsProcessInJob', IsProcessInJob(process.value, job.handle.value, r));
  return r[0] !== 0;
}

/**
 * STARTUPINFOEXW. STARTF_USESTDHANDLES is set in every case: with a terminal's pseudoconsole the handles are NULL,
 * so the child cannot inherit this process's own (possibly redirected) stdio instead of the pseudoconsole's.
 * `desktop` must stay alive until CreateProcess returns (the struct holds its address).
 */
function startupInfo(attrs: AttributeList, stdio?: [bigint, bigint, bigint], desktop?: Buffer): Buffer {
  return encodeStruct('STARTUPINFOEXW', {
    StartupInfo: {
      cb: structSize('STARTUPINFOEXW'),
      lpDesktop: desktop ? koffi().address(desktop) : null,
      dwFlags: STARTF_USESTDHANDLES,
      hStdInput: stdio?.[0] ?? null,
      hStdOutput: stdio?.[1] ?? null,
      hStdError: stdio?.[2] ?? null,
    },
    lpAttributeList: koffi().address(attrs.buffer),
  });
}

/** The creation flags: suspended, Unicode environment, extended startup info; no console only without a pseudoconsole. */
export function creationFlags(pseudoConsole: boolean, breakaway = false): number {
  return (
    CreationFlags.CREATE_SUSPENDED |
    CreationFlags.CREATE_UNICODE_ENVIRONMENT |
    CreationFlags.EXTENDED_STARTUPINFO_PRESENT |
    (pseudoConsole ? 0 : CreationFlags.CREATE_NO_WINDOW) |
    (breakaway ? CreationFlags.CREATE_BREAKAWAY_FROM_JOB : 0)
  );
}

/** Tries to add the job list; false when this Windows (or Wine) rejects the attribute. */
function tryJobList(attrs: AttributeList, job: Job): boolean {
  try {
    attrs.setHandles(ProcThreadAttribute.JOB_LIST, [job.handle.value]);
    return true;
  } catch (e) {
    if (e instanceof Win32Error && (e.code === WinError.NOT_SUPPORTED || e.code === WinError.INVALID_PARAMETER))
      return false;
    throw e;
  }
}

/** CreateProcessAsUserW, suspended, inside `opts.job`; resumed only once job membership is confirmed. */
export function createProcessAsUser(opts: CreateProcessOptions): ChildProcess {
  const attrs = new AttributeList(3);
  let proc: Handle | undefined;
  let thread: Handle | undefined;
  try {
    const jobListAccepted = tryJobList(attrs, opts.job);
    if (opts.pseudoConsole !== undefined) attrs.setPseudoConsole(opts.pseudoConsole);
    if (opts.stdio) {
      for (const h of new Set(opts.stdio)) setInheritable(h, true);
      attrs.setHandles(ProcThreadAttribute.HANDLE_LIST, [...new Set(opts.stdio)]);
    }
    const pi = Buffer.alloc(structSize('PROCESS_INFORMATION'));
    const flags = creationFlags(opts.pseudoConsole !== undefined, opts.breakaway);
    const desktop = opts.desktop === undefined ? undefined : wide(opts.desktop);
    checkBool(
      'CreateProcessAsUserW',
      CreateProcessAsUserW(
        opts.token.value,
        null,
        wide(opts.commandLine),
        null,
        null,
        Boolean(opts.stdio),
        flags,
        environmentBlock(opts.env),
        opts.cwd,
        startupInfo(attrs, opts.stdio, desktop),
        pi,
      ),
      opts.commandLine,
    );
    const info = decodeStruct<{ hProcess: bigint; hThread: bigint; dwProcessId: number }>(pi, 'PROCESS_INFORMATION');
    proc = new Handle(info.hProcess, 'process');
    thread = new Handle(info.hThread, 'thread');
    const placement: JobPlacement =
      jobListAccepted && isProcessInJob(proc, opts.job) ? 'job-list' : 'assigned-while-suspended';
    if (placement === 'assigned-while-suspended') opts.job.assign(proc);
    if ((ResumeThread(thread.value) as number) === 0xffffffff) throw new Win32Error('ResumeThread', lastError());
    const child = new ChildProcess(proc, info.dwProcessId, placement);
    proc = undefined;
    return child;
  } catch (e) {
    if (proc && !proc.closed) TerminateProcess(proc.value, 1);
    throw e;
  } finally {
    closeAll(thread, proc, attrs);
  }
}
