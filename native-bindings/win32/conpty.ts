/**
 * Pseudoconsoles (ConPTY) for sandboxed terminals: create with a size and two pipe handles, resize, close.
 * `close()` runs ClosePseudoConsole on a worker thread, because it waits for the output pipe to drain and Node
 * must keep reading it meanwhile. Must never leave a pseudoconsole open after its process is gone.
 */
import { checkHresult } from './errors';
import { NativeOwner } from './handle';
import { lazyAsyncFn, lazyFn, type Pointer } from './lib';
import { declareStructs } from './structs';

const CreatePseudoConsole = lazyFn(
  'kernel32.dll',
  'int32 CreatePseudoConsole(COORD size, void *input, void *output, uint32 flags, _Out_ void **hpc)',
  declareStructs,
);
const ResizePseudoConsole = lazyFn('kernel32.dll', 'int32 ResizePseudoConsole(void *hpc, COORD size)', declareStructs);
const ClosePseudoConsoleAsync = lazyAsyncFn('kernel32.dll', 'void ClosePseudoConsole(void *hpc)');

export class PseudoConsole {
  #closing: Promise<void> | undefined;
  private constructor(private readonly owner: NativeOwner) {}

  /** CreatePseudoConsole: `input` is read by the console, `output` written by it (both synchronous pipe ends). */
  static create(cols: number, rows: number, input: bigint, output: bigint): PseudoConsole {
    const out: Pointer[] = [null];
    checkHresult('CreatePseudoConsole', CreatePseudoConsole({ X: cols, Y: rows }, input, output, 0, out));
    return new PseudoConsole(new NativeOwner(out[0] as bigint, 'pseudoconsole', () => undefined));
  }

  get handle(): bigint {
    return this.owner.value;
  }

  resize(cols: number, rows: number): void {
    checkHresult('ResizePseudoConsole', ResizePseudoConsole(this.handle, { X: cols, Y: rows }));
  }

  /** Closes the pseudoconsole (idempotent); resolves when ConPTY has shut down. */
  close(): Promise<void> {
    if (!this.#closing) {
      const h = this.owner.closed ? undefined : this.owner.detach();
      this.#closing = h === undefined ? Promise.resolve() : ClosePseudoConsoleAsync(h).then(() => undefined);
    }
    return this.#closing;
  }
}
