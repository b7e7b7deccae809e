/**
 * The window Verify opens outside the sandbox, on the developer's desktop, as the target of its input-injection
 * probe (review §3.1): a top-level EDIT control (a predefined class, so no window procedure of ours runs), whose
 * text is what a posted WM_CHAR or an injected key would change. The verifier pumps its messages while the probe
 * runs and reads the text after: any text means input from the sandbox reached it. Must never be left open (close()
 * destroys it), and never be shown: it only has to exist and accept messages.
 */
import { checkBool, checkHandle } from './errors';
import { fromWide, lazyFn } from './lib';

const CreateWindowExW = lazyFn(
  'user32.dll',
  'intptr CreateWindowExW(uint32 exStyle, str16 cls, str16 title, uint32 style, int x, int y, int w, int h, ' +
    'void *parent, void *menu, void *instance, void *param)',
);
const DestroyWindow = lazyFn('user32.dll', 'bool DestroyWindow(intptr hwnd)');
const PeekMessageW = lazyFn(
  'user32.dll',
  'bool PeekMessageW(_Out_ uint8_t *msg, void *hwnd, uint32 min, uint32 max, uint32 remove)',
);
const TranslateMessage = lazyFn('user32.dll', 'bool TranslateMessage(uint8_t *msg)');
const DispatchMessageW = lazyFn('user32.dll', 'intptr DispatchMessageW(uint8_t *msg)');
const GetWindowTextW = lazyFn('user32.dll', 'int GetWindowTextW(intptr hwnd, _Out_ uint8_t *text, int max)');
const PostMessageW = lazyFn('user32.dll', 'bool PostMessageW(intptr hwnd, uint32 msg, uintptr wParam, intptr lParam)');

const WS_OVERLAPPEDWINDOW = 0x00cf0000;
const PM_REMOVE = 0x1;
export const WM_CHAR = 0x102;
/** sizeof(MSG) on x64 (hwnd, message, wParam, lParam, time, pt, lPrivate, with padding). */
const MSG_SIZE = 48;

export class TargetWindow {
  #hwnd: bigint | undefined;

  private constructor(hwnd: bigint) {
    this.#hwnd = hwnd;
  }

  /** A hidden top-level EDIT window on this thread's desktop, holding `title` as its initial text. */
  static open(title: string): TargetWindow {
    const h = BigInt(
      checkHandle(
        'CreateWindowExW',
        CreateWindowExW(0, 'EDIT', title, WS_OVERLAPPEDWINDOW, 0, 0, 200, 60, null, null, null, null),
      ),
    );
    return new TargetWindow(h);
  }

  /** The window handle as a number (what the probe is told). */
  get hwnd(): bigint {
    if (this.#hwnd === undefined) throw new Error('the target window is closed');
    return this.#hwnd;
  }

  /** Dispatches every message waiting for this thread's windows (posted characters reach the EDIT control here). */
  pump(): number {
    const msg = Buffer.alloc(MSG_SIZE);
    let n = 0;
    while (PeekMessageW(msg, null, 0, 0, PM_REMOVE)) {
      TranslateMessage(msg);
      DispatchMessageW(msg);
      n++;
    }
    return n;
  }

  /** The control's text (an EDIT control's window text is its content, starting as the title): compare before/after. */
  text(): string {
    const buf = Buffer.alloc(1024);
    const n = Number(GetWindowTextW(this.hwnd, buf, buf.length / 2));
    return fromWide(buf, n);
  }

  /** Posts a character to the window from this process (the Wine tier's control: the check sees an effect). */
  postChar(c: string): void {
    checkBool('PostMessageW', PostMessageW(this.hwnd, WM_CHAR, c.charCodeAt(0), 1));
  }

  close(): void {
    if (this.#hwnd === undefined) return;
    DestroyWindow(this.#hwnd);
    this.#hwnd = undefined;
  }
}
