// Wine tier: the window Verify opens outside the sandbox as the input-injection target (review §3.1, §5.4):
// CreateWindowExW with the predefined EDIT class, a posted WM_CHAR dispatched by the verifier's pump, and the
// text read back, which is how Verify judges the probe by its effect. Plumbing only: whether a sandboxed process
// can reach the window from its private desktop is for Verify on real Windows (needs real Windows). Wine without a
// display (as in CI) creates no window at all: then the call must fail as a Win32Error, which Verify reports as a
// "not checked" note, never a pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TargetWindow } from '../../../native-bindings/win32/window';
import { Win32Error } from '../../../native-bindings/win32/errors';

test('target window under Wine (plumbing only): with a display, posted characters show in its text only after a pump; without one, CreateWindowExW fails as a Win32Error', () => {
  let w: TargetWindow;
  try {
    w = TargetWindow.open('agent-sandbox verify target');
  } catch (e) {
    assert.ok(e instanceof Win32Error, String(e));
    assert.equal(e.api, 'CreateWindowExW');
    assert.ok(!process.env.DISPLAY, `a display (${process.env.DISPLAY}) is set, yet no window was created`);
    return;
  }
  try {
    assert.ok(w.hwnd > 0n);
    w.pump();
    // An EDIT control's window text is its content, which starts as the title.
    const before = w.text();
    assert.equal(before, 'agent-sandbox verify target', 'nothing reached it yet');
    w.postChar('x');
    w.postChar('y');
    assert.equal(w.text(), before, 'posted, not yet dispatched');
    assert.ok(w.pump() >= 2);
    assert.notEqual(w.text(), before, 'the check sees input that reached the window');
    assert.match(w.text(), /x/);
    assert.match(w.text(), /y/);
  } finally {
    w.close();
    w.close();
  }
  assert.throws(() => w.hwnd, /closed/);
});
