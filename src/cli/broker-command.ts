/**
 * `agent-sandbox broker status|stop`: lists or stops this user's warm brokers (Linux and Windows), those of the current state
 * folder unless `--all`. Status is asked of each broker over its socket or named pipe; one that does not answer is reported as
 * stale and its files are removed. Exit codes: 0 done; 2 bad arguments.
 */
import { defaultStateDir, listBrokers, stopBrokers } from '../sandbox';
import { parse, UsageError } from './args';
import type { CliCommand } from './commands';

export const brokerCommand: CliCommand = {
  usage: `Usage: agent-sandbox broker status|stop [--all] [--json]

A cold "agent-sandbox run" leaves a broker behind: a sandbox kept ready for the same policy, so the next "run" with
the same options from the same folder starts its command at once. A broker exits after AGENT_SANDBOX_BROKER_IDLE
seconds without commands (default 300), when its policy's inputs change, and on "agent-sandbox uninstall".
Turn brokers off with "run --no-broker" or AGENT_SANDBOX_BROKER=0.

  status                List this user's brokers: pid, workspace, network, commands served, idle time.
  stop                  Stop them (and the commands they are running).
  --all                 Every broker of this user, not only those of the current state folder.
  --json                Print JSON.

Exit codes: 0 done; 2 bad arguments.`,
  async main(argv) {
    const { values, positionals } = parse(
      argv,
      {
        all: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      true,
    );
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const stateDir = values.all ? undefined : defaultStateDir();
    const action = positionals[0];
    if (positionals.length !== 1 || (action !== 'status' && action !== 'stop'))
      throw new UsageError('Say "status" or "stop".');
    if (action === 'stop') {
      const stopped = await stopBrokers(stateDir);
      console.log(values.json ? JSON.stringify(stopped, null, 2) : `Stopped ${stopped.length} broker(s).`);
      return 0;
    }
    const listed = await listBrokers(stateDir);
    if (values.json) {
      console.log(JSON.stringify(listed, null, 2));
      return 0;
    }
    if (!listed.length) console.log('No brokers.');
    for (const l of listed) {
      if (!l.status) console.log(`${l.key}: stale (${l.stale}); removed`);
      else {
        const s = l.status;
        console.log(
          `pid ${s.pid}: ${s.workspaceRoots.join(', ') || '(no workspace)'}, ${s.network}; ${s.served} command(s) served, ` +
            `${s.active} running; idle ${s.idleSeconds}s of ${s.idleLimitSeconds}s`,
        );
      }
    }
    return 0;
  },
};
