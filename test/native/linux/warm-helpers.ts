/** What the warm-broker tests (warm.test, warm-fast.test) share: finding a workspace's broker, counting sleepers. */
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { BrokerStatus } from '../../../src/protocol/warm';
import { listBrokers } from '../../../src/sandbox/linux/warm-control';
import { STATE_DIR } from './helpers';

/** The live broker serving workspace `ws` (other than pid `not`), once one answers (polls up to `ms`). */
export async function brokerFor(ws: string, ms = 15_000, not?: number, stateDir = STATE_DIR): Promise<BrokerStatus> {
  const end = Date.now() + ms;
  for (;;) {
    const b = (await listBrokers(stateDir)).find((l) => l.status?.workspaceRoots.includes(ws) && l.status.pid !== not);
    if (b?.status) return b.status;
    if (Date.now() > end) throw new Error(`no broker for ${ws} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The pids of the processes running exactly `sleep <arg>`. */
export function sleepers(arg: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return fs.readFileSync(`/proc/${e}/cmdline`, 'utf8') === `sleep\u0000${arg}\u0000`;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** 'CONNECTED' when the host can connect to the Unix socket `sock`, else the error's message. */
export function hostConnect(sock: string): Promise<string> {
  return new Promise<string>((res) =>
    net
      .connect(sock)
      .on('connect', function (this: net.Socket) {
        this.destroy();
        res('CONNECTED');
      })
      .on('error', (e) => res(e.message)),
  );
}
