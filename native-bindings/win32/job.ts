/**
 * Job objects: every sandboxed command lives in a job that kills the whole tree when the job handle closes.
 * `Job` owns the handle; `close()` is idempotent and, with KILL_ON_JOB_CLOSE, terminates every member.
 * Must never leave a job without its kill-on-close limit (the limit is read back after being set; Wine alone is
 * excused because its query is a stub).
 */
import { checkBool, checkHandle, Win32Error, WinError } from './errors';
import { Handle } from './handle';
import { lazyFn } from './lib';
import { isWine } from './wine';
import { declareStructs, decodeStruct, encodeStruct, structSize } from './structs';

const CreateJobObjectW = lazyFn('kernel32.dll', 'void *CreateJobObjectW(void *sa, str16 name)');
const SetInformationJobObject = lazyFn(
  'kernel32.dll',
  'bool SetInformationJobObject(void *job, int cls, void *info, uint32 len)',
  declareStructs,
);
const QueryInformationJobObject = lazyFn(
  'kernel32.dll',
  'bool QueryInformationJobObject(void *job, int cls, _Out_ void *info, uint32 len, void *retLen)',
);
const AssignProcessToJobObject = lazyFn('kernel32.dll', 'bool AssignProcessToJobObject(void *job, void *process)');
const TerminateJobObject = lazyFn('kernel32.dll', 'bool TerminateJobObject(void *job, uint32 code)');

const JobClass = { BasicAccounting: 1, BasicUIRestrictions: 4, ExtendedLimit: 9 } as const;
export const JobLimit = {
  KILL_ON_JOB_CLOSE: 0x2000,
  DIE_ON_UNHANDLED_EXCEPTION: 0x400,
  BREAKAWAY_OK: 0x800,
  SILENT_BREAKAWAY_OK: 0x1000,
} as const;
/** JOB_OBJECT_UILIMIT_* bits. */
export const UiLimit = {
  HANDLES: 0x1,
  READCLIPBOARD: 0x2,
  WRITECLIPBOARD: 0x4,
  SYSTEMPARAMETERS: 0x8,
  DISPLAYSETTINGS: 0x10,
  GLOBALATOMS: 0x20,
  DESKTOP: 0x40,
  EXITWINDOWS: 0x80,
} as const;
export const UI_RESTRICTIONS_ALL = Object.values(UiLimit).reduce((a, b) => a | b, 0);
/**
 * What sandboxed commands get, in both modes: no use of other processes' window handles, no desktop creation or
 * switching, no clipboard (it belongs to the window station, which a private desktop still shares: copied secrets
 * would be readable, and a planted clipboard is pasted by the developer), no global atoms, system or display
 * settings, no logoff. None of these stops input injection on a shared desktop: that is the private desktop's job.
 */
export const UI_RESTRICTIONS_SANDBOX =
  UiLimit.HANDLES |
  UiLimit.READCLIPBOARD |
  UiLimit.WRITECLIPBOARD |
  UiLimit.SYSTEMPARAMETERS |
  UiLimit.DISPLAYSETTINGS |
  UiLimit.GLOBALATOMS |
  UiLimit.DESKTOP |
  UiLimit.EXITWINDOWS;

/** The job this process itself runs in, if any: a job with UI limits cannot be nested under it. */
export interface OuterJob {
  inJob: boolean;
  /** The outer job lets children break away (CREATE_BREAKAWAY_FROM_JOB), so ours need not nest. */
  breakawayOk: boolean;
}

const GetCurrentProcess = lazyFn('kernel32.dll', 'void *GetCurrentProcess()');
const IsProcessInJob = lazyFn('kernel32.dll', 'bool IsProcessInJob(void *process, void *job, _Out_ int *result)');

/** IsProcessInJob(self, NULL) and, when in one, its limit flags (QueryInformationJobObject(NULL, …) = own job). */
export function outerJob(): OuterJob {
  const r = [0];
  checkBool('IsProcessInJob', IsProcessInJob(GetCurrentProcess(), null, r));
  if (!r[0]) return { inJob: false, breakawayOk: false };
  const info = Buffer.alloc(structSize('JOBOBJECT_EXTENDED_LIMIT_INFORMATION'));
  checkBool(
    'QueryInformationJobObject',
    QueryInformationJobObject(null, JobClass.ExtendedLimit, info, info.length, null),
    'own job',
  );
  const flags = decodeStruct<{ BasicLimitInformation: { LimitFlags: number } }>(
    info,
    'JOBOBJECT_EXTENDED_LIMIT_INFORMATION',
  ).BasicLimitInformation.LimitFlags;
  return { inJob: true, breakawayOk: (flags & (JobLimit.BREAKAWAY_OK | JobLimit.SILENT_BREAKAWAY_OK)) !== 0 };
}

export class Job {
  private constructor(readonly handle: Handle) {}

  /** An anonymous job whose members all die when it closes (limit read back). */
  static createKillOnClose(): Job {
    const job = new Job(new Handle(checkHandle('CreateJobObjectW', CreateJobObjectW(null, null)), 'job'));
    try {
      job.setLimitFlags(JobLimit.KILL_ON_JOB_CLOSE | JobLimit.DIE_ON_UNHANDLED_EXCEPTION);
      const flags = job.limitFlags();
      // Wine answers this query with zeros (a stub); there the Wine tier checks kill-on-close by behaviour.
      if (!(flags & JobLimit.KILL_ON_JOB_CLOSE) && !isWine()) {
        throw new Win32Error('QueryInformationJobObject', WinError.INVALID_FUNCTION, 'kill-on-close did not stick');
      }
      return job;
    } catch (e) {
      job.close();
      throw e;
    }
  }

  setLimitFlags(flags: number): void {
    const info = encodeStruct('JOBOBJECT_EXTENDED_LIMIT_INFORMATION', { BasicLimitInformation: { LimitFlags: flags } });
    checkBool(
      'SetInformationJobObject',
      SetInformationJobObject(this.handle.value, JobClass.ExtendedLimit, info, info.length),
    );
  }

  limitFlags(): number {
    const info = Buffer.alloc(structSize('JOBOBJECT_EXTENDED_LIMIT_INFORMATION'));
    checkBool(
      'QueryInformationJobObject',
      QueryInformationJobObject(this.handle.value, JobClass.ExtendedLimit, info, info.length, null),
    );
    return decodeStruct<{ BasicLimitInformation: { LimitFlags: number } }>(info, 'JOBOBJECT_EXTENDED_LIMIT_INFORMATION')
      .BasicLimitInformation.LimitFlags;
  }

  /** Sets UI limits and reads them back (Wine, whose query is a stub, excepted). */
  setUiRestrictions(flags = UI_RESTRICTIONS_SANDBOX): void {
    const info = encodeStruct('JOBOBJECT_BASIC_UI_RESTRICTIONS', { UIRestrictionsClass: flags });
    checkBool(
      'SetInformationJobObject',
      SetInformationJobObject(this.handle.value, JobClass.BasicUIRestrictions, info, info.length),
    );
    if (isWine()) return;
    const back = this.uiRestrictions();
    if ((back & flags) !== flags) {
      throw new Win32Error(
        'QueryInformationJobObject',
        WinError.INVALID_FUNCTION,
        `UI limits read back as 0x${back.toString(16)}`,
      );
    }
  }

  uiRestrictions(): number {
    const info = Buffer.alloc(structSize('JOBOBJECT_BASIC_UI_RESTRICTIONS'));
    checkBool(
      'QueryInformationJobObject',
      QueryInformationJobObject(this.handle.value, JobClass.BasicUIRestrictions, info, info.length, null),
    );
    return info.readUInt32LE(0);
  }

  /** Processes currently in the job (basic accounting). */
  activeProcesses(): number {
    const info = Buffer.alloc(structSize('JOBOBJECT_BASIC_ACCOUNTING_INFORMATION'));
    checkBool(
      'QueryInformationJobObject',
      QueryInformationJobObject(this.handle.value, JobClass.BasicAccounting, info, info.length, null),
    );
    return decodeStruct<{ ActiveProcesses: number }>(info, 'JOBOBJECT_BASIC_ACCOUNTING_INFORMATION').ActiveProcesses;
  }

  /** Adds a (suspended) process. Used only when PROC_THREAD_ATTRIBUTE_JOB_LIST is unavailable. */
  assign(process: Handle): void {
    checkBool('AssignProcessToJobObject', AssignProcessToJobObject(this.handle.value, process.value));
  }

  terminate(exitCode: number): void {
    checkBool('TerminateJobObject', TerminateJobObject(this.handle.value, exitCode >>> 0));
  }

  /** Closes the job; with KILL_ON_JOB_CLOSE every member dies. Idempotent. */
  close(): void {
    this.handle.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
