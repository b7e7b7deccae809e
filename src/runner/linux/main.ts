/**
 * The Linux runner: started by the backend under bubblewrap with an IPC channel. It waits for its configuration,
 * applies Landlock, no_new_privs and seccomp to itself, reports what it applied, and then either runs one command
 * on its own stdio (`once`) or becomes a broker that spawns commands on request. If anything cannot be applied it
 * reports `failed` and exits 125 without running anything.
 */
import { applySandbox } from './apply';
import { serveBroker } from './broker';
import { startCommand } from './command';
import { checkIsolation } from './isolate';
import type { FromRunner, RunnerSandbox, ToRunner } from '../../protocol/linux';
import { startRelay } from './relay';

const SANDBOX_FAILED = 125;

export function runLinuxRunner(): void {
  if (!process.send) {
    process.stderr.write('agent-sandbox runner: start me through the Agent Sandbox backend (no IPC channel).\n');
    process.exitCode = SANDBOX_FAILED;
    return;
  }
  process.once('message', async (msg: ToRunner) => {
    if (msg.type !== 'once' && msg.type !== 'broker') return finish(SANDBOX_FAILED, undefined);
    const relayed = await relay(msg.sandbox);
    if (relayed.type === 'failed') return finish(SANDBOX_FAILED, relayed);
    const applied = applySandbox(msg.sandbox);
    if (applied.type === 'failed') return finish(SANDBOX_FAILED, applied);
    if (msg.type === 'broker') {
      const why = checkIsolation();
      if (why) {
        return finish(SANDBOX_FAILED, {
          type: 'failed',
          code: 'broker-failed',
          message: `Brokered commands cannot be kept apart here: ${why}.`,
          fix: "Install util-linux's unshare and allow unprivileged user namespaces; commands then run one sandbox each.",
        });
      }
    }
    send({ ...applied, notes: [...relayed.notes, ...applied.notes] });
    if (msg.type === 'broker') return serveBroker(send, msg.sandbox, applied.landlockAbi);
    const { ended } = startCommand(msg.command, 'inherit', false, (s) => process.stderr.write(s));
    send({ type: 'started', id: msg.command.id });
    void ended.then((end) => finish(end.code, { type: 'exit', id: msg.command.id, ...end }));
  });
  process.once('disconnect', () => process.exit(SANDBOX_FAILED));
}

/** Starts the allowlist relay (before Landlock forbids binding its ports); nothing to do in other modes. */
async function relay(
  s: RunnerSandbox,
): Promise<{ type: 'ok'; notes: string[] } | Extract<FromRunner, { type: 'failed' }>> {
  if (!s.relay) return { type: 'ok', notes: [] };
  try {
    return { type: 'ok', notes: await startRelay(s.relay) };
  } catch (e) {
    return {
      type: 'failed',
      code: 'internal',
      message: `The network allowlist relay could not start: ${(e as Error).message}.`,
      fix: 'Check that the proxy sockets are bound into the sandbox, or report this bug.',
    };
  }
}

function send(msg: FromRunner): void {
  process.send?.(msg);
}

/** Sends the last message, then exits with `code` once it is flushed. */
function finish(code: number, last: FromRunner | undefined): void {
  process.removeAllListeners('disconnect');
  const exit = () => process.exit(code);
  if (last && process.connected) process.send!(last, undefined, {}, exit);
  else exit();
}
