/**
 * Talking to this user's warm brokers on Windows (the CLI's `broker status|stop`, and uninstall, for the CLI and the
 * extension alike): each broker's record in the user's broker folder names its key and process, and the broker is
 * asked over its named pipe with both ends checked exactly as for a `run` (src/cli/warm/channel-win32.ts). A record
 * whose pipe is gone is stale and removed. A broker still starting (a `boot-<pid>` file) holds nothing yet: Windows
 * prepares its plan on the first command it serves, so it is left to listen and then to its idle exit; only files of
 * processes that are gone are removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeChannel } from '../../cli/warm/channel-win32';
import { brokerAnswer, brokerDir, type BrokerInfo, type BrokerStatus, type Listed } from '../../protocol/warm';

const ANSWER_MS = 3000;

/** Every broker of this user (optionally only those of one state folder), asking each over its pipe. */
export async function listBrokers(stateDir?: string): Promise<Listed[]> {
  const dir = brokerDir();
  if (pipeChannel.unsafeDir(dir)) return [];
  const keys = fs
    .readdirSync(dir)
    .filter((f) => /^[0-9a-f]{32}\.json$/.test(f))
    .map((f) => f.slice(0, -'.json'.length));
  const out = await Promise.all(
    keys.map(async (key): Promise<Listed> => {
      const answer = await ask(dir, key, 'Q');
      return typeof answer === 'string' ? { key, stale: answer } : { key, status: answer };
    }),
  );
  for (const f of fs.readdirSync(dir).filter((n) => /^boot-\d+$/.test(n)))
    if (!alive(Number(f.slice('boot-'.length)))) fs.rmSync(path.join(dir, f), { force: true });
  return out.filter((l) => !stateDir || !l.status || l.status.stateDir === stateDir);
}

/** Stops the brokers of this user (of one state folder, when given) and waits for them to exit. */
export async function stopBrokers(stateDir?: string): Promise<BrokerStatus[]> {
  const stopped: BrokerStatus[] = [];
  for (const l of await listBrokers(stateDir)) {
    if (!l.status) continue;
    const answer = await ask(brokerDir(), l.key, 'P');
    if (typeof answer === 'string') continue;
    stopped.push(answer);
    for (let i = 0; i < 100 && alive(answer.pid); i++) await new Promise((r) => setTimeout(r, 50));
  }
  return stopped;
}

/** Sends one frame to the key's broker (its pipe and process checked) and returns its status answer, or why none. */
async function ask(dir: string, key: string, type: 'Q' | 'P'): Promise<BrokerStatus | string> {
  let info: BrokerInfo;
  try {
    info = JSON.parse(fs.readFileSync(path.join(dir, `${key}.json`), 'utf8')) as BrokerInfo;
  } catch (e) {
    return (e as Error).message;
  }
  const conn = await pipeChannel.connect(dir, key, info.pid); // a pipe gone: its record is removed there
  if ('why' in conn) return conn.why;
  return brokerAnswer(conn, type, ANSWER_MS);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
