/**
 * Win32 struct layouts for koffi, declared once on first use (koffi type names are global). The Wine tier checks
 * every size against the documented x64 size in `X64_SIZES`. Must never be declared at import time.
 */
import { koffi, once, type KoffiType } from './lib';

/** Documented sizes on x64 Windows (sizeof in C). */
export const X64_SIZES = {
  SID_AND_ATTRIBUTES: 16,
  TRUSTEE_W: 32,
  EXPLICIT_ACCESS_W: 48,
  SECURITY_ATTRIBUTES: 24,
  STARTUPINFOW: 104,
  STARTUPINFOEXW: 112,
  PROCESS_INFORMATION: 24,
  LUID_AND_ATTRIBUTES: 12,
  TOKEN_PRIVILEGES_1: 16,
  JOBOBJECT_BASIC_LIMIT_INFORMATION: 64,
  IO_COUNTERS: 48,
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION: 144,
  JOBOBJECT_BASIC_ACCOUNTING_INFORMATION: 48,
  JOBOBJECT_BASIC_UI_RESTRICTIONS: 4,
  COORD: 4,
} as const;

export type StructName = keyof typeof X64_SIZES;

const declareAll = once((): Record<StructName, KoffiType> => {
  const k = koffi();
  const SID_AND_ATTRIBUTES = k.struct('SID_AND_ATTRIBUTES', { Sid: 'void *', Attributes: 'uint32' });
  const TRUSTEE_W = k.struct('TRUSTEE_W', {
    pMultipleTrustee: 'void *',
    MultipleTrusteeOperation: 'int',
    TrusteeForm: 'int',
    TrusteeType: 'int',
    ptstrName: 'void *',
  });
  const EXPLICIT_ACCESS_W = k.struct('EXPLICIT_ACCESS_W', {
    grfAccessPermissions: 'uint32',
    grfAccessMode: 'int',
    grfInheritance: 'uint32',
    Trustee: TRUSTEE_W,
  });
  const SECURITY_ATTRIBUTES = k.struct('SECURITY_ATTRIBUTES', {
    nLength: 'uint32',
    lpSecurityDescriptor: 'void *',
    bInheritHandle: 'int',
  });
  const STARTUPINFOW = k.struct('STARTUPINFOW', {
    cb: 'uint32',
    lpReserved: 'void *',
    lpDesktop: 'void *',
    lpTitle: 'void *',
    dwX: 'uint32',
    dwY: 'uint32',
    dwXSize: 'uint32',
    dwYSize: 'uint32',
    dwXCountChars: 'uint32',
    dwYCountChars: 'uint32',
    dwFillAttribute: 'uint32',
    dwFlags: 'uint32',
    wShowWindow: 'uint16',
    cbReserved2: 'uint16',
    lpReserved2: 'void *',
    hStdInput: 'void *',
    hStdOutput: 'void *',
    hStdError: 'void *',
  });
  const STARTUPINFOEXW = k.struct('STARTUPINFOEXW', { StartupInfo: STARTUPINFOW, lpAttributeList: 'void *' });
  const PROCESS_INFORMATION = k.struct('PROCESS_INFORMATION', {
    hProcess: 'void *',
    hThread: 'void *',
    dwProcessId: 'uint32',
    dwThreadId: 'uint32',
  });
  const LUID_AND_ATTRIBUTES = k.struct('LUID_AND_ATTRIBUTES', {
    LowPart: 'uint32',
    HighPart: 'int32',
    Attributes: 'uint32',
  });
  const TOKEN_PRIVILEGES_1 = k.struct('TOKEN_PRIVILEGES_1', {
    PrivilegeCount: 'uint32',
    Privileges: k.array(LUID_AND_ATTRIBUTES, 1),
  });
  const JOBOBJECT_BASIC_LIMIT_INFORMATION = k.struct('JOBOBJECT_BASIC_LIMIT_INFORMATION', {
    PerProcessUserTimeLimit: 'int64',
    PerJobUserTimeLimit: 'int64',
    LimitFlags: 'uint32',
    MinimumWorkingSetSize: 'size_t',
    MaximumWorkingSetSize: 'size_t',
    ActiveProcessLimit: 'uint32',
    Affinity: 'uintptr_t',
    PriorityClass: 'uint32',
    SchedulingClass: 'uint32',
  });
  const IO_COUNTERS = k.struct('IO_COUNTERS', {
    ReadOperationCount: 'uint64',
    WriteOperationCount: 'uint64',
    OtherOperationCount: 'uint64',
    ReadTransferCount: 'uint64',
    WriteTransferCount: 'uint64',
    OtherTransferCount: 'uint64',
  });
  const JOBOBJECT_EXTENDED_LIMIT_INFORMATION = k.struct('JOBOBJECT_EXTENDED_LIMIT_INFORMATION', {
    BasicLimitInformation: JOBOBJECT_BASIC_LIMIT_INFORMATION,
    IoInfo: IO_COUNTERS,
    ProcessMemoryLimit: 'size_t',
    JobMemoryLimit: 'size_t',
    PeakProcessMemoryUsed: 'size_t',
    PeakJobMemoryUsed: 'size_t',
  });
  const JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = k.struct('JOBOBJECT_BASIC_ACCOUNTING_INFORMATION', {
    TotalUserTime: 'int64',
    TotalKernelTime: 'int64',
    ThisPeriodTotalUserTime: 'int64',
    ThisPeriodTotalKernelTime: 'int64',
    TotalPageFaultCount: 'uint32',
    TotalProcesses: 'uint32',
    ActiveProcesses: 'uint32',
    TotalTerminatedProcesses: 'uint32',
  });
  const JOBOBJECT_BASIC_UI_RESTRICTIONS = k.struct('JOBOBJECT_BASIC_UI_RESTRICTIONS', {
    UIRestrictionsClass: 'uint32',
  });
  const COORD = k.struct('COORD', { X: 'int16', Y: 'int16' });
  return {
    SID_AND_ATTRIBUTES,
    TRUSTEE_W,
    EXPLICIT_ACCESS_W,
    SECURITY_ATTRIBUTES,
    STARTUPINFOW,
    STARTUPINFOEXW,
    PROCESS_INFORMATION,
    LUID_AND_ATTRIBUTES,
    TOKEN_PRIVILEGES_1,
    JOBOBJECT_BASIC_LIMIT_INFORMATION,
    IO_COUNTERS,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
    JOBOBJECT_BASIC_UI_RESTRICTIONS,
    COORD,
  };
});

/** The koffi type for a struct (declaring all of them on first use). */
export function struct(name: StructName): KoffiType {
  return declareAll()[name];
}

/** Declares every struct; pass to `lazyFn` so prototypes can name them. */
export function declareStructs(): void {
  declareAll();
}

/** koffi's idea of a struct's size, for the layout test. */
export function structSize(name: StructName): number {
  return koffi().sizeof(struct(name));
}

/** A zeroed buffer holding one struct, encoded from `value`. */
export function encodeStruct(name: StructName, value: Record<string, unknown>): Buffer {
  const buf = Buffer.alloc(structSize(name));
  koffi().encode(buf, struct(name), value);
  return buf;
}

/** Decodes a struct from a buffer (or native pointer) at an offset. */
export function decodeStruct<T = Record<string, unknown>>(from: Buffer | bigint, name: StructName, offset = 0): T {
  return koffi().decode(from, offset, struct(name)) as T;
}
