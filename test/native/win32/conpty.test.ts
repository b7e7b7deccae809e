// Wine tier: ConPTY through the backend (tty spawn). Needs a console: scripts/test-win32.sh runs node.exe under
// `script` so that CreatePseudoConsole works under Wine. Plumbing only; Wine does not enforce the sandbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxFixture } from './fixture';
import { createPipePair, pipeSddl } from '../../../native-bindings/win32/pipe';
import { PseudoConsole } from '../../../native-bindings/win32/conpty';
import { openProcessToken, tokenUserSid } from '../../../native-bindings/win32/token';
import { Win32Error } from '../../../native-bindings/win32/errors';
import { isWine } from '../../../native-bindings/win32/wine';

async function ptyRun(argv: string[]) {
  const { ws, plan, backend } = sandboxFixture('pty');
  try {
    const proc = await backend.spawn(plan, { argv, cwd: ws, stdio: 'pipe', tty: { cols: 80, rows: 25 } });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    const exit = await proc.exited;
    return { exit, out };
  } finally {
    await backend.dispose();
  }
}

test('a tty command starts under a pseudoconsole, its exit code arrives and the pty output reaches EOF (plumbing only; Wine does not enforce the sandbox)', async () => {
  const { exit } = await ptyRun(['cmd', '/c', 'exit 5']);
  assert.equal(exit.code, 5);
});

test(
  "a tty command's output arrives through the pseudoconsole (needs real Windows)",
  { skip: isWine() && 'Wine 8 attaches the child to the pseudoconsole but does not bind its standard handles to it' },
  async () => {
    const { exit, out } = await ptyRun(['cmd', '/c', 'echo pty-ok']);
    assert.equal(exit.code, 0);
    assert.match(out, /pty-ok/);
  },
);

test('CreatePseudoConsole with invalid handles throws Win32Error with the HRESULT', async () => {
  const t = openProcessToken();
  const sddl = pipeSddl([tokenUserSid(t)]);
  t.close();
  const pair = await createPipePair('bad', sddl);
  try {
    assert.throws(
      () => PseudoConsole.create(0, 0, 0n, 0n),
      (e: unknown) => e instanceof Win32Error && e.api === 'CreatePseudoConsole',
    );
  } finally {
    pair.server.close();
    pair.socket.destroy();
  }
});

test(
  'ResizePseudoConsole resizes a live pseudoconsole (needs real Windows)',
  { skip: isWine() && 'Wine returns E_NOTIMPL from ResizePseudoConsole' },
  async () => {
    const t = openProcessToken();
    const sddl = pipeSddl([tokenUserSid(t)]);
    t.close();
    const input = await createPipePair('rin', sddl);
    const output = await createPipePair('rout', sddl);
    const pty = PseudoConsole.create(80, 25, input.server.value, output.server.value);
    try {
      pty.resize(100, 30);
    } finally {
      await pty.close();
      for (const p of [input, output]) {
        p.server.close();
        p.socket.destroy();
      }
    }
  },
);
