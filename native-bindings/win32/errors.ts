/**
 * Win32 failures as exceptions. Every binding checks its result with one of the `check*` helpers, which read
 * GetLastError through koffi immediately after the failed call (koffi saves the thread's last-error value after
 * each native call and restores it before the next, so Node/V8 cannot clobber it in between) and throw a
 * `Win32Error` naming the API, the code and the system message. Must never swallow a failure.
 */
import { isInvalidHandle, isNull, lazyFn, type Pointer } from './lib';

const GetLastError = lazyFn('kernel32.dll', 'uint32 GetLastError()');
const FormatMessageW = lazyFn(
  'kernel32.dll',
  'uint32 FormatMessageW(uint32 flags, void *source, uint32 id, uint32 lang, _Out_ uint16_t *buf, uint32 size, void *args)',
);

const FORMAT_MESSAGE_FROM_SYSTEM = 0x1000;
const FORMAT_MESSAGE_IGNORE_INSERTS = 0x200;

/** Well-known codes the orchestrator maps to user actions. */
export const WinError = {
  SUCCESS: 0,
  INVALID_FUNCTION: 1,
  FILE_NOT_FOUND: 2,
  PATH_NOT_FOUND: 3,
  ACCESS_DENIED: 5,
  INVALID_HANDLE: 6,
  NOT_SUPPORTED: 50,
  INVALID_PARAMETER: 87,
  INSUFFICIENT_BUFFER: 122,
  ALREADY_EXISTS: 183,
  PIPE_BUSY: 231,
  NO_DATA: 232,
  PIPE_CONNECTED: 535,
  IO_PENDING: 997,
  PRIVILEGE_NOT_HELD: 1314,
  INVALID_SID: 1337,
  NONE_MAPPED: 1332,
} as const;

export class Win32Error extends Error {
  override readonly name = 'Win32Error';
  constructor(
    /** The Win32 API that failed, e.g. `ConvertStringSidToSidW`. */
    readonly api: string,
    /** The Win32 error code (or an HRESULT as unsigned 32-bit for COM calls). */
    readonly code: number,
    detail?: string,
  ) {
    super(`${api} failed with error ${code}${hex(code)}: ${systemMessage(code)}${detail ? ` (${detail})` : ''}`);
  }
}

function hex(code: number): string {
  return code > 0xffff ? ` (0x${code.toString(16).padStart(8, '0')})` : '';
}

/** The calling thread's last Win32 error, as preserved by koffi since the previous native call. */
export function lastError(): number {
  return GetLastError() as number;
}

/** The system's text for an error code, or a placeholder when it has none (never throws). */
export function systemMessage(code: number): string {
  try {
    const buf = Buffer.alloc(1024);
    const n = FormatMessageW(
      FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      null,
      code >>> 0,
      0,
      buf,
      buf.length / 2,
      null,
    ) as number;
    const text = buf.toString('utf16le', 0, n * 2).trim();
    return text || 'no system message';
  } catch {
    return 'no system message';
  }
}

/** For functions returning BOOL: throws with GetLastError when the result is FALSE. */
export function checkBool(api: string, result: unknown, detail?: string): void {
  if (!result) throw new Win32Error(api, lastError(), detail);
}

/** For functions returning a HANDLE: NULL or INVALID_HANDLE_VALUE means failure. Returns the handle. */
export function checkHandle(api: string, result: unknown, detail?: string): bigint {
  if (isNull(result) || isInvalidHandle(result)) throw new Win32Error(api, lastError(), detail);
  return result as bigint;
}

/** For functions returning a Win32 error code directly (SetEntriesInAclW, GetNamedSecurityInfoW...). */
export function checkStatus(api: string, status: unknown, detail?: string): void {
  const code = Number(status) >>> 0;
  if (code !== WinError.SUCCESS) throw new Win32Error(api, code, detail);
}

/** For COM/HRESULT-returning functions: throws when FAILED(hr). Returns hr (S_OK or S_FALSE). */
export function checkHresult(api: string, hr: unknown, detail?: string): number {
  const value = Number(hr) | 0;
  if (value < 0) throw new Win32Error(api, value >>> 0, detail);
  return value;
}

/** Type guard for a specific Win32 error. */
export function isWin32Error(e: unknown, code?: number): e is Win32Error {
  return e instanceof Win32Error && (code === undefined || e.code === code);
}

export type { Pointer };
