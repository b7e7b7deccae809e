/**
 * Running a program elevated with one UAC prompt (ShellExecuteExW, verb "runas") and waiting for it without
 * blocking the event loop: ShellExecuteExW returns only once the user has answered the prompt, so it runs on
 * koffi's worker thread (SEE_MASK_NOASYNC: it finishes its work before returning), and its last error is read on
 * that thread's behalf (see lazyAsyncCall). The user declining the prompt surfaces as Win32Error 1223
 * (ERROR_CANCELLED). Must never be given a command line built from unvalidated text: callers pass base64url
 * payloads only.
 */
import { checkBool, Win32Error } from './errors';
import { Handle } from './handle';
import { koffi, lazyAsyncCall, lazyFn, once } from './lib';
import { waitForSignal } from './wait';

export const ERROR_CANCELLED = 1223;
const SEE_MASK_NOCLOSEPROCESS = 0x40;
const SEE_MASK_NOASYNC = 0x100;
const SEE_MASK_FLAG_NO_UI = 0x400;
const SW_HIDE = 0;

/** x64 layout of SHELLEXECUTEINFOW (shellapi.h): 112 bytes. */
export const SHELLEXECUTEINFOW_X64_SIZE = 112;
const declare = once(() =>
  koffi().struct('SHELLEXECUTEINFOW', {
    cbSize: 'uint32',
    fMask: 'uint32',
    hwnd: 'void *',
    lpVerb: 'str16',
    lpFile: 'str16',
    lpParameters: 'str16',
    lpDirectory: 'str16',
    nShow: 'int',
    hInstApp: 'void *',
    lpIDList: 'void *',
    lpClass: 'str16',
    hkeyClass: 'void *',
    dwHotKey: 'uint32',
    hIconOrMonitor: 'void *',
    hProcess: 'void *',
  }),
);

const ShellExecuteExAsync = lazyAsyncCall(
  'shell32.dll',
  'bool ShellExecuteExW(_Inout_ SHELLEXECUTEINFOW *info)',
  declare,
);
const GetProcessId = lazyFn('kernel32.dll', 'uint32 GetProcessId(void *process)');
const GetExitCodeProcess = lazyFn('kernel32.dll', 'bool GetExitCodeProcess(void *process, _Out_ uint32 *code)');

export function shellExecuteInfoSize(): number {
  return koffi().sizeof(declare());
}

export interface ElevatedProcess {
  process: Handle;
  pid: number;
}

/**
 * Starts `file` with `parameters` elevated; resolves once the user has answered the UAC prompt, without blocking
 * the event loop meanwhile. Rejects with Win32Error 1223 when the user declines the prompt.
 */
export async function runElevated(file: string, parameters: string, directory: string): Promise<ElevatedProcess> {
  const info: Record<string, unknown> = {
    cbSize: shellExecuteInfoSize(),
    fMask: SEE_MASK_NOCLOSEPROCESS | SEE_MASK_NOASYNC | SEE_MASK_FLAG_NO_UI,
    hwnd: null,
    lpVerb: 'runas',
    lpFile: file,
    lpParameters: parameters,
    lpDirectory: directory,
    nShow: SW_HIDE,
    hInstApp: null,
    lpIDList: null,
    lpClass: null,
    hkeyClass: null,
    dwHotKey: 0,
    hIconOrMonitor: null,
    hProcess: null,
  };
  const started = await ShellExecuteExAsync(info);
  if (!started.value) throw new Win32Error('ShellExecuteExW', started.lastError, file);
  if (!info.hProcess) throw new Win32Error('ShellExecuteExW', started.lastError, 'no process handle returned');
  const process = new Handle(info.hProcess as bigint, 'elevated process');
  return { process, pid: GetProcessId(process.value) as number };
}

/** Waits (a registered wait, no libuv pool thread) for a process to end and returns its exit code. */
export async function waitForExit(process: Handle): Promise<number> {
  await waitForSignal(process.value);
  const code = [0];
  checkBool('GetExitCodeProcess', GetExitCodeProcess(process.value, code));
  return code[0];
}
