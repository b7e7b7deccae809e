/**
 * Security identifiers: parse and format string SIDs, well-known SIDs, and random per-workspace capability SIDs.
 * A parsed `Sid` owns its native copy (freed by `close()`). Must never mint a capability SID from anything but
 * crypto-random bytes.
 */
import { randomBytes } from 'node:crypto';
import { checkBool, Win32Error, WinError } from './errors';
import { LocalMemory } from './handle';
import { koffi, lazyFn, type Pointer } from './lib';

const ConvertStringSidToSidW = lazyFn('advapi32.dll', 'bool ConvertStringSidToSidW(str16 s, _Out_ void **sid)');
const ConvertSidToStringSidW = lazyFn('advapi32.dll', 'bool ConvertSidToStringSidW(void *sid, _Out_ void **s)');
const IsValidSid = lazyFn('advapi32.dll', 'bool IsValidSid(void *sid)');
const GetLengthSid = lazyFn('advapi32.dll', 'uint32 GetLengthSid(void *sid)');
const EqualSid = lazyFn('advapi32.dll', 'bool EqualSid(void *a, void *b)');
const LocalFree = lazyFn('kernel32.dll', 'void *LocalFree(void *mem)');

/** Well-known SIDs the sandbox names. */
export const WellKnownSid = {
  Everyone: 'S-1-1-0',
  CreatorOwner: 'S-1-3-0',
  AuthenticatedUsers: 'S-1-5-11',
  Users: 'S-1-5-32-545',
  Administrators: 'S-1-5-32-544',
  LocalSystem: 'S-1-5-18',
  Restricted: 'S-1-5-12',
} as const;

const SID_PATTERN = /^S-1-\d+(-\d+)+$/i;

/** Syntax check only (no native call): `S-1-<authority>-<sub>...`. */
export function isSidString(s: string): boolean {
  return SID_PATTERN.test(s);
}

/**
 * A fresh capability SID: `S-1-5-21-` and four random 32-bit sub-authorities. The issuing authority (5) and the
 * `21` prefix make Windows treat it like a domain/machine SID that no account owns.
 */
export function randomCapabilitySid(): string {
  const b = randomBytes(16);
  return `S-1-5-21-${[0, 4, 8, 12].map((o) => b.readUInt32LE(o)).join('-')}`;
}

/** A native SID owned by this object. */
export class Sid {
  private constructor(private readonly memory: LocalMemory) {}

  /** Parses a string SID (ConvertStringSidToSidW). Throws Win32Error 1337 for a malformed one. */
  static parse(text: string): Sid {
    const out: Pointer[] = [null];
    checkBool('ConvertStringSidToSidW', ConvertStringSidToSidW(text, out), text);
    return new Sid(new LocalMemory(out[0] as bigint, 'SID'));
  }

  /** The native pointer, valid until `close()`. */
  get pointer(): bigint {
    return this.memory.value;
  }

  get byteLength(): number {
    return GetLengthSid(this.pointer) as number;
  }

  /** The canonical string form (ConvertSidToStringSidW). */
  toString(): string {
    return sidToString(this.pointer);
  }

  equals(other: Sid): boolean {
    return Boolean(EqualSid(this.pointer, other.pointer));
  }

  close(): void {
    this.memory.close();
  }
}

/** Formats a SID at any native address (e.g. inside a token information buffer). */
export function sidToString(pointer: bigint): string {
  if (!IsValidSid(pointer)) throw new Win32Error('IsValidSid', WinError.INVALID_SID);
  const out: Pointer[] = [null];
  checkBool('ConvertSidToStringSidW', ConvertSidToStringSidW(pointer, out));
  try {
    return koffi().decode.wstring(out[0]);
  } finally {
    LocalFree(out[0]);
  }
}

/** Parses, uses and frees a SID. */
export function withSid<T>(text: string, use: (sid: Sid) => T): T {
  const sid = Sid.parse(text);
  try {
    return use(sid);
  } finally {
    sid.close();
  }
}

/** Canonical form of a string SID, round-tripped through Windows (upper-cases, drops leading zeros). */
export function canonicalSid(text: string): string {
  return withSid(text, (s) => s.toString());
}
