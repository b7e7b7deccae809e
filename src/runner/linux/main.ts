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
import type { FromRunner, ToRunner } from '../../protocol/linux';

const SANDBOX_FAILED = 125;

export function runLinuxRunner(): void {
  if (!process.send) {
    process.stderr.write('agent-sandbox runner: start me through the Agent Sandbox backend (no IPC channel).\n');
    process.exitCode = SANDBOX_FAILED;
    return;
  }
  process.once('message', (msg: ToRunner) => {
    if (msg.type !== 'once' && msg.type !== 'broker') return finish(SANDBOX_FAILED, undefined);
    const applied = applySandbox(msg.sandbox);
    if (applied.type === 'failed') return finish(SANDBOX_FAILED, applied);
    if (msg.type === 'broker') {
      const why = checkIsolation();
      if (why) {
        return finish(SANDBOX_FAILED, { type: 'failed', code: 'broker-failed', message: `Brokered commands cannot be kept apart here: ${why}.`,
          fix: 'Install util-linux\'s unshare and allow unprivileged user namespaces; commands then run one sandbox each.' });
      }
      send(applied);
      return serveBroker(send, msg.sandbox, applied.landlockAbi);
    }
    send(applied);
    const { ended } = startCommand(msg.command, 'inherit', false, (s) => process.stderr.write(s));
    send({ type: 'started', id: msg.command.id });
    void ended.then((end) => finish(end.code, { type: 'exit', id: msg.command.id, ...end }));
  });
  process.once('disconnect', () => process.exit(SANDBOX_FAILED));
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
