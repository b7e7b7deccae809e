/**
 * The elevated process (started through UAC by `agent-sandbox setup` / `uninstall`): decodes the request from its
 * command line, connects back to the caller's result pipe, performs the action and sends one result frame. Must
 * never write a password anywhere but that pipe (no file, no log, no DPAPI here: the account that answered UAC may
 * not be the developer's).
 */
import { connectClient } from '../../../native-bindings/win32/pipe';
import { encodeFrame } from '../../protocol/windows';
import { performElevated } from '../../sandbox/windows/setup/elevated-action';
import { win32Machine } from '../../sandbox/windows/setup/machine-win32';
import { generatePassword } from '../../sandbox/windows/setup/password';
import { machineRuntimeLayout } from '../../sandbox/windows/setup/runtime-copy';
import { decodeRequest, type ElevatedRequest, type ElevatedResult } from '../../sandbox/windows/setup/payload';

export async function elevatedMain(payload: string): Promise<number> {
  const req = decodeRequest(payload);
  const socket = await connectClient(req.pipe);
  try {
    const result = await performElevated(
      req,
      win32Machine({ stateDir: req.stateDir, home: req.home }),
      generatePassword,
      undefined,
      () => machineRuntimeLayout(req.home),
    ).catch((e: unknown): ElevatedResult => crashed(req, e));
    await new Promise<void>((resolve, reject) => socket.write(encodeFrame(result), (e) => (e ? reject(e) : resolve())));
    return result.ok ? 0 : 1;
  } finally {
    await new Promise<void>((r) => socket.end(r));
  }
}

/** A failure outside any step (a native library that would not load, say) still reaches the caller as a result. */
function crashed(req: ElevatedRequest, e: unknown): ElevatedResult {
  return {
    type: 'result',
    nonce: req.nonce,
    action: req.action,
    ok: false,
    users: [],
    leftovers: [],
    steps: [
      {
        id: 'elevated',
        title: 'Running the elevated part',
        status: 'failed',
        problems: [],
        error: {
          code: 'setup-failed',
          message: (e as Error)?.message ?? String(e),
          fix: 'Run the command again; report the message if it repeats.',
        },
      },
    ],
  };
}
