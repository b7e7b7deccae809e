/**
 * Just enough COM to drive the firewall: initialization, CoCreateInstance, QueryInterface, Release, BSTRs, and
 * calling a method by vtable index. An `ComObject` owns one reference (released by an idempotent `close()`).
 * Must never call a vtable slot without a prototype that matches the interface's declaration.
 */
import { checkHresult } from './errors';
import { NativeOwner } from './handle';
import { koffi, lazyFn, once, type KoffiType } from './lib';

const COINIT_MULTITHREADED = 0x0;
const RPC_E_CHANGED_MODE = 0x80010106;
export const CLSCTX_INPROC_SERVER = 0x1;

const CoInitializeEx = lazyFn('ole32.dll', 'int32 CoInitializeEx(void *reserved, uint32 coinit)');
const CoCreateInstance = lazyFn(
  'ole32.dll',
  'int32 CoCreateInstance(uint8_t *clsid, void *outer, uint32 ctx, uint8_t *iid, _Out_ void **obj)',
);
const SysAllocString = lazyFn('oleaut32.dll', 'void *SysAllocString(str16 s)');
const SysFreeString = lazyFn('oleaut32.dll', 'void SysFreeString(void *bstr)');

/** A GUID in its in-memory layout, from the registry form `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`. */
export function guid(text: string): Buffer {
  const m = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i.exec(text);
  if (!m) throw new Error(`Not a GUID: ${text}`);
  const b = Buffer.alloc(16);
  b.writeUInt32LE(parseInt(m[1], 16), 0);
  b.writeUInt16LE(parseInt(m[2], 16), 4);
  b.writeUInt16LE(parseInt(m[3], 16), 6);
  Buffer.from(m[4] + m[5], 'hex').copy(b, 8);
  return b;
}

let initialized = false;
/**
 * Initializes COM on this thread once, in the multithreaded apartment: the extension host's main thread has no
 * message pump, and making it an STA could deadlock other extensions' cross-apartment COM. The firewall objects
 * are free-threaded. A thread already in the other apartment mode is fine for our objects.
 */
export function ensureCom(): void {
  if (initialized) return;
  const hr = Number(CoInitializeEx(null, COINIT_MULTITHREADED)) >>> 0;
  if (hr !== RPC_E_CHANGED_MODE) checkHresult('CoInitializeEx', hr | 0);
  initialized = true;
}

const protos = new Map<string, KoffiType>();
/** A vtable method prototype, declared once; `self` is prepended. Example: `int32 put_Name(void *bstr)`. */
export function methodProto(signature: string): KoffiType {
  let p = protos.get(signature);
  if (!p) {
    const m = /^(\S+)\s+(\w+)\((.*)\)$/.exec(signature);
    if (!m) throw new Error(`bad COM signature ${signature}`);
    const params = m[3].trim() ? `void *self, ${m[3]}` : 'void *self';
    p = koffi().proto(`${m[1]} __stdcall COM_${m[2]}_${protos.size}(${params})`);
    protos.set(signature, p);
  }
  return p;
}

const releaseProto = once(() => methodProto('uint32 Release()'));
const queryProto = once(() => methodProto('int32 QueryInterface(uint8_t *iid, _Out_ void **obj)'));

/** One reference to a COM interface. */
export class ComObject extends NativeOwner {
  constructor(
    pointer: bigint,
    readonly iface: string,
  ) {
    super(pointer, iface, (p) => {
      koffi().call(slot(p, 2), releaseProto(), p);
    });
  }

  /** Calls vtable slot `index` and throws Win32Error(`iface::name`, hr) when it fails. */
  call(index: number, signature: string, ...args: unknown[]): number {
    const p = this.value;
    const hr = koffi().call(slot(p, index), methodProto(signature), p, ...args);
    return checkHresult(`${this.iface}::${signature.split(/[\s(]/)[1]}`, hr);
  }

  /** Calls a method whose last parameter is an out-pointer to an interface, and owns the result. */
  callForObject(index: number, signature: string, iface: string, ...args: unknown[]): ComObject {
    const out: (bigint | null)[] = [null];
    this.call(index, signature, ...args, out);
    return new ComObject(out[0] as bigint, iface);
  }

  queryInterface(iid: string, iface: string): ComObject {
    const out: (bigint | null)[] = [null];
    const p = this.value;
    checkHresult(`${this.iface}::QueryInterface(${iface})`, koffi().call(slot(p, 0), queryProto(), p, guid(iid), out));
    return new ComObject(out[0] as bigint, iface);
  }
}

function slot(obj: bigint, index: number): bigint {
  const vtbl = koffi().decode(obj, 'void *') as bigint;
  return koffi().decode(vtbl, index * 8, 'void *') as bigint;
}

export function createInstance(clsid: string, iid: string, iface: string): ComObject {
  ensureCom();
  const out: (bigint | null)[] = [null];
  checkHresult(`CoCreateInstance(${iface})`, CoCreateInstance(guid(clsid), null, CLSCTX_INPROC_SERVER, guid(iid), out));
  return new ComObject(out[0] as bigint, iface);
}

/** A BSTR owned by JS code (SysAllocString / SysFreeString). */
export class Bstr extends NativeOwner {
  constructor(text: string) {
    super(SysAllocString(text) as bigint, 'BSTR', (p) => SysFreeString(p));
  }
}

/** Runs `use` with a temporary BSTR. */
export function withBstr<T>(text: string, use: (b: bigint) => T): T {
  const b = new Bstr(text);
  try {
    return use(b.value);
  } finally {
    b.close();
  }
}

/** Takes ownership of a BSTR returned through an out-parameter: reads it and frees it. */
export function takeBstr(p: bigint | null): string | undefined {
  if (!p) return undefined;
  try {
    return koffi().decode(p, 'str16') as string;
  } finally {
    SysFreeString(p);
  }
}
