/**
 * A private desktop for sandboxed processes (CreateDesktopW in the caller's window station, a random name, a
 * protected DACL for the given SIDs and SYSTEM only). A process on another desktop cannot inject input into, hook,
 * or message the windows of the developer's `WinSta0\Default`. The clipboard and the global atom table belong to the
 * window station and stay shared: job UI limits cover those (./job). Must never create a desktop without a DACL,
 * and never hand out a desktop name that does not exist (the handle is kept open for the backend's lifetime: a
 * desktop disappears with its last handle).
 */
import { randomBytes } from 'node:crypto';
import { checkBool, checkHandle } from './errors';
import { NativeOwner } from './handle';
import { SecurityDescriptor } from './acl';
import { fromWide, lazyFn, type Pointer } from './lib';
import { declareStructs } from './structs';

const CreateDesktopW = lazyFn(
  'user32.dll',
  'void *CreateDesktopW(str16 name, void *device, void *devmode, uint32 flags, uint32 access, void *sa)',
  declareStructs,
);
const CloseDesktop = lazyFn('user32.dll', 'bool CloseDesktop(void *desk)');
const GetProcessWindowStation = lazyFn('user32.dll', 'void *GetProcessWindowStation()');
const GetUserObjectInformationW = lazyFn(
  'user32.dll',
  'bool GetUserObjectInformationW(void *obj, int index, _Out_ uint8_t *info, uint32 len, _Out_ uint32 *needed)',
);

const GetThreadDesktop = lazyFn('user32.dll', 'void *GetThreadDesktop(uint32 threadId)');
const GetCurrentThreadId = lazyFn('kernel32.dll', 'uint32 GetCurrentThreadId()');

const GENERIC_ALL = 0x10000000;
const UOI_NAME = 2;

/** `AgentSandbox-<64 random bits>`: never derived from a pid (they repeat, under Wine at every start). */
export function privateDesktopName(): string {
  return `AgentSandbox-${randomBytes(8).toString('hex')}`;
}

/** A protected DACL granting SYSTEM and each of `sids` full access to the desktop, nobody else anything. */
export function desktopSddl(sids: string[]): string {
  return `D:P(A;;GA;;;SY)${[...new Set(sids)].map((s) => `(A;;GA;;;${s})`).join('')}`;
}

/** The name of a window station or desktop (UOI_NAME). */
function objectName(h: Pointer): string {
  const buf = Buffer.alloc(512);
  checkBool('GetUserObjectInformationW', GetUserObjectInformationW(h, UOI_NAME, buf, buf.length, [0]));
  return fromWide(buf);
}

/** This process's window station's name ("WinSta0" in an interactive session; "Service-0x…" in services). */
export function currentWindowStation(): string {
  return objectName(checkHandle('GetProcessWindowStation', GetProcessWindowStation()));
}

/** The calling thread's desktop's name (what a child started with lpDesktop sees). */
export function currentDesktopName(): string {
  return objectName(checkHandle('GetThreadDesktop', GetThreadDesktop(GetCurrentThreadId())));
}

export class PrivateDesktop {
  private constructor(
    private readonly owner: NativeOwner,
    readonly name: string,
    readonly windowStation: string,
  ) {}

  /** CreateDesktopW(name) in this process's window station, protected by `sddl`; the name is read back. */
  static create(name: string, sddl: string): PrivateDesktop {
    const station = currentWindowStation();
    const sd = SecurityDescriptor.fromSddl(sddl);
    let owner: NativeOwner;
    try {
      const h = checkHandle(
        'CreateDesktopW',
        CreateDesktopW(name, null, null, 0, GENERIC_ALL, sd.securityAttributes(false)),
        name,
      );
      owner = new NativeOwner(h, 'desktop', (v) => checkBool('CloseDesktop', CloseDesktop(v)));
    } finally {
      sd.close();
    }
    try {
      const back = objectName(owner.value);
      if (back.toLowerCase() !== name.toLowerCase())
        throw new Error(`the desktop was created as "${back}", not "${name}"`);
      return new PrivateDesktop(owner, name, station);
    } catch (e) {
      owner.close();
      throw e;
    }
  }

  get handle(): bigint {
    return this.owner.value;
  }

  /** What STARTUPINFO.lpDesktop takes: `WinSta0\AgentSandbox-…`. */
  get lpDesktop(): string {
    return `${this.windowStation}\\${this.name}`;
  }

  close(): void {
    this.owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
