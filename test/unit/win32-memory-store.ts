// Test helper (not a test): an in-memory SecurityStore with SetEntriesInAclW-like merge semantics.
import * as path from 'node:path';
import type { Ace, SecurityStore } from '../../src/sandbox/windows/ledger';
import type { VolumeInfo } from '../../native-bindings/win32/volume';

export class MemoryStore implements SecurityStore {
  dacls = new Map<string, Ace[]>();
  /** Paths whose writes throw what the thunk returns. */
  failOn = new Map<string, () => Error>();
  /** When set, writes are accepted but not stored (like Wine). */
  dropWrites = false;
  writes = 0;
  /** Paths that are files (everything else present is a folder), and files holding data. */
  files = new Set<string>();
  nonEmpty = new Set<string>();
  /** The volume of paths under each key (lower-cased prefix); anything else is a local NTFS drive. */
  volumes = new Map<string, VolumeInfo | Error>();
  volume(p: string): VolumeInfo {
    const hit = [...this.volumes].find(([prefix]) => p.toLowerCase().startsWith(prefix));
    if (hit?.[1] instanceof Error) throw hit[1];
    return hit?.[1] ?? { root: `${p.slice(0, 2)}\\`, driveType: 3, fileSystem: 'NTFS', flags: 0x8 };
  }
  constructor(paths: string[]) {
    for (const p of paths) this.dacls.set(p.toLowerCase(), []);
  }
  kind(p: string) {
    const k = p.toLowerCase();
    return !this.dacls.has(k) ? ('missing' as const) : this.files.has(k) ? ('file' as const) : ('dir' as const);
  }
  /** Creates `p` and its missing parents (up to the drive), like the real store; returns them outermost first. */
  /** What each created file holds. */
  readonly contents = new Map<string, string>();
  create(p: string, kind: 'dir' | 'file', content = '') {
    const made: string[] = [];
    for (
      let d = path.win32.dirname(p);
      d !== path.win32.dirname(d) && this.kind(d) === 'missing';
      d = path.win32.dirname(d)
    )
      made.unshift(d);
    for (const m of [...made, p]) this.dacls.set(m.toLowerCase(), []);
    if (kind === 'file') {
      this.files.add(p.toLowerCase());
      this.contents.set(p.toLowerCase(), content);
    }
    return [...made, p];
  }
  removeIfEmpty(p: string, content = '') {
    const k = p.toLowerCase();
    if (!this.dacls.has(k) || this.nonEmpty.has(k) || [...this.dacls.keys()].some((o) => o.startsWith(`${k}\\`)))
      return false;
    if (this.files.has(k) && (this.contents.get(k) ?? '') !== content) return false;
    this.dacls.delete(k);
    this.files.delete(k);
    return true;
  }
  /** Each path's file ID (./guard's identity): `replace` gives it a new one, as a rename onto it does. */
  readonly ids = new Map<string, number>();
  private nextId = 1;
  identity(p: string) {
    const k = p.toLowerCase();
    if (!this.dacls.has(k)) return 'missing';
    if (!this.ids.has(k)) this.ids.set(k, this.nextId++);
    return `id-${this.ids.get(k)}`;
  }
  /** The host renames another file onto `p`: a new file ID and only what it inherits (no explicit ACE). */
  replace(p: string) {
    const k = p.toLowerCase();
    this.dacls.set(k, []);
    this.ids.set(k, this.nextId++);
  }
  /** Every path written (apply and applyInPlace), in order. */
  writtenPaths: string[] = [];
  entries(p: string) {
    return [...(this.dacls.get(p.toLowerCase()) ?? [])];
  }
  /** Paths written with `applyInPlace` (no propagation), in order. */
  inPlaceWrites: string[] = [];
  applyInPlace(p: string, aces: Ace[]) {
    this.inPlaceWrites.push(p);
    return this.apply(p, aces);
  }
  apply(p: string, aces: Ace[]) {
    const fail = this.failOn.get(p.toLowerCase());
    if (fail) throw fail();
    const before = JSON.stringify(this.entries(p));
    let list = this.entries(p);
    for (const a of aces) {
      if (a.mode === 'revoke') list = list.filter((e) => e.sid !== a.sid);
      else list.push({ ...a });
    }
    if (!this.dropWrites) this.dacls.set(p.toLowerCase(), list);
    this.writes++;
    this.writtenPaths.push(p);
    return before;
  }
}
