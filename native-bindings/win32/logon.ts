/**
 * Starting a process as another local account (CreateProcessWithLogonW, through the Secondary Logon service). The
 * account is always given as a local one (domain "."), never resolved by bare name. The password is only in a
 * buffer that is zeroed after the call. Must never be used for anything but the sandbox runner.
 */
import { checkBool } from './errors';
import { Handle } from './handle';
import { koffi, lazyFn, wide } from './lib';
import { environmentBlock } from './process';
import { declareStructs, decodeStruct, encodeStruct, structSize } from './structs';

const CreateProcessWithLogonW = lazyFn(
  'advapi32.dll',
  'bool CreateProcessWithLogonW(str16 user, str16 domain, ' +
    'uint8_t *password, uint32 logonFlags, str16 app, uint8_t *cmdLine, uint32 flags, uint8_t *env, str16 cwd, ' +
    'uint8_t *si, _Out_ uint8_t *pi)',
  declareStructs,
);

const LOGON_WITH_PROFILE = 0x1;
const CREATE_NEW_CONSOLE = 0x10;
const CREATE_UNICODE_ENVIRONMENT = 0x400;
const STARTF_USESHOWWINDOW = 0x1;
const SW_HIDE = 0;

/** Logon failures worth one retry with freshly read credentials (bad password, account locked out/expired). */
export const LOGON_FAILURE_CODES = [1326, 1327, 1330, 1331, 1909] as const;

export interface LogonProcess {
  process: Handle;
  pid: number;
}

export function createProcessWithLogon(opts: {
  user: string;
  password: string;
  application: string;
  commandLine: string;
  cwd: string;
  env: Record<string, string>;
  desktop?: string;
}): LogonProcess {
  const password = wide(opts.password);
  // lpDesktop: Secondary Logon grants the new logon SID access to this window station and desktop (a private one).
  const desktop = opts.desktop === undefined ? undefined : wide(opts.desktop);
  try {
    const si = encodeStruct('STARTUPINFOW', {
      cb: structSize('STARTUPINFOW'),
      lpDesktop: desktop ? koffi().address(desktop) : null,
      dwFlags: STARTF_USESHOWWINDOW,
      wShowWindow: SW_HIDE,
    });
    const pi = Buffer.alloc(structSize('PROCESS_INFORMATION'));
    checkBool(
      'CreateProcessWithLogonW',
      CreateProcessWithLogonW(
        opts.user,
        '.',
        password,
        LOGON_WITH_PROFILE,
        opts.application,
        wide(opts.commandLine),
        CREATE_NEW_CONSOLE | CREATE_UNICODE_ENVIRONMENT,
        environmentBlock(opts.env),
        opts.cwd,
        si,
        pi,
      ),
      `.\\${opts.user}`,
    );
    const info = decodeStruct<{ hProcess: bigint; hThread: bigint; dwProcessId: number }>(pi, 'PROCESS_INFORMATION');
    new Handle(info.hThread, 'thread').close();
    return { process: new Handle(info.hProcess, 'process'), pid: info.dwProcessId };
  } finally {
    password.fill(0);
  }
}
