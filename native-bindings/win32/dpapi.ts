/**
 * Per-user DPAPI (CryptProtectData / CryptUnprotectData): the sandbox accounts' passwords at rest. The blob is
 * bound to the Windows account that runs this code, so it must be called in the developer's own unelevated
 * process, never in the elevated one (the administrator who answers UAC may be another account). Must never use
 * CRYPTPROTECT_LOCAL_MACHINE, which would let every account on the machine decrypt.
 */
import { checkBool } from './errors';
import { LocalMemory } from './handle';
import { koffi, lazyFn, once } from './lib';

const CRYPTPROTECT_UI_FORBIDDEN = 0x1;

const declareBlob = once(() => koffi().struct('DATA_BLOB', { cbData: 'uint32', pbData: 'void *' }));

const CryptProtectData = lazyFn(
  'crypt32.dll',
  'bool CryptProtectData(DATA_BLOB *in, str16 descr, DATA_BLOB *entropy, void *reserved, void *prompt, uint32 flags, _Out_ DATA_BLOB *out)',
  declareBlob,
);
const CryptUnprotectData = lazyFn(
  'crypt32.dll',
  'bool CryptUnprotectData(DATA_BLOB *in, _Out_ void **descr, DATA_BLOB *entropy, void *reserved, void *prompt, uint32 flags, _Out_ DATA_BLOB *out)',
  declareBlob,
);
const LocalFree = lazyFn('kernel32.dll', 'void *LocalFree(void *mem)');

interface Blob {
  cbData: number;
  pbData: bigint | null;
}

function blobOf(buf: Buffer): Blob {
  return { cbData: buf.length, pbData: buf.length ? koffi().address(buf) : null };
}

/** Copies an output blob into a Buffer and frees the native copy. */
function takeBlob(out: Blob): Buffer {
  const owner = new LocalMemory(out.pbData ?? 0n, 'DPAPI blob');
  try {
    if (!out.cbData) return Buffer.alloc(0);
    return Buffer.from(koffi().decode(out.pbData, koffi().array('uint8_t', out.cbData, 'Typed')) as Uint8Array);
  } finally {
    owner.close();
  }
}

/** Encrypts `data` for the current Windows user. `entropy` must be given again to decrypt. */
export function protectForCurrentUser(data: Buffer, entropy: Buffer, description: string): Buffer {
  const out: Blob = { cbData: 0, pbData: null };
  const input = Buffer.from(data);
  try {
    checkBool(
      'CryptProtectData',
      CryptProtectData(blobOf(input), description, blobOf(entropy), null, null, CRYPTPROTECT_UI_FORBIDDEN, out),
    );
    return takeBlob(out);
  } finally {
    input.fill(0);
  }
}

/** Decrypts a blob made by `protectForCurrentUser` for this same user; throws Win32Error when tampered with. */
export function unprotectForCurrentUser(blob: Buffer, entropy: Buffer): Buffer {
  const out: Blob = { cbData: 0, pbData: null };
  const descr: (bigint | null)[] = [null];
  checkBool(
    'CryptUnprotectData',
    CryptUnprotectData(blobOf(blob), descr, blobOf(entropy), null, null, CRYPTPROTECT_UI_FORBIDDEN, out),
  );
  if (descr[0]) LocalFree(descr[0]);
  return takeBlob(out);
}
