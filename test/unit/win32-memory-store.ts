// Test helper (not a test): an in-memory SecurityStore with SetEntriesInAclW-like merge semantics.
import type { Ace, SecurityStore } from '../../src/sandbox/windows/ledger';

export class MemoryStore implements SecurityStore {
  dacls = new Map<string, Ace[]>();
  /** Paths whose writes throw what the thunk returns. */
  failOn = new Map<string, () => Error>();
  /** When set, writes are accepted but not stored (like Wine). */
  dropWrites = false;
  writes = 0;
  constructor(paths: string[]) {
    for (const p of paths) this.dacls.set(p.toLowerCase(), []);
  }
  kind(p: string) {
    return this.dacls.has(p.toLowerCase()) ? 'dir' as const : 'missing' as const;
  }
  create(p: string) {
    this.dacls.set(p.toLowerCase(), []);
  }
  entries(p: string) {
    return [...(this.dacls.get(p.toLowerCase()) ?? [])];
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
    return before;
  }
}

