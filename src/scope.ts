/**
 * One cleanup path for code that acquires several resources in a row. `use` and `defer` register what to release,
 * `keep()` on success hands everything to the caller, and disposing the scope (`using scope = new Scope()`) releases
 * whatever was not kept, newest first, every release attempted even when one throws. Replaces hand-written lists of
 * what to close in each `catch`. Must never release anything twice, nor anything that was kept.
 */

/** Anything released by an idempotent `close()` (native owners, brokers) or by `[Symbol.dispose]`. */
export type Releasable = Disposable | { close(): unknown };

export class Scope implements Disposable {
  #releases: (() => void)[] = [];

  /** Registers `owner` for release and returns it; `undefined`/`null` are ignored. */
  use<T extends Releasable | undefined | null>(owner: T): T {
    if (owner) {
      const o: Releasable = owner;
      this.#releases.push(
        Symbol.dispose in o ? () => o[Symbol.dispose]() : () => void (o as { close(): unknown }).close(),
      );
    }
    return owner;
  }

  /** Registers a release step that is not an owner (destroying a socket, unpiping a stream). */
  defer(release: () => void): void {
    this.#releases.push(release);
  }

  /** Success: the caller now owns everything registered so far, and disposing releases nothing. */
  keep(): void {
    this.#releases = [];
  }

  [Symbol.dispose](): void {
    const releases = this.#releases.reverse();
    this.#releases = [];
    let failed: { error: unknown } | undefined;
    for (const release of releases) {
      try {
        release();
      } catch (error) {
        failed ??= { error };
      }
    }
    if (failed) throw failed.error;
  }
}
