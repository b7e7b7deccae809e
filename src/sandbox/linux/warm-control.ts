/**
 * Talking to this user's warm brokers (the CLI's `broker status|stop`, and the Linux lifecycle's uninstall, for the
 * CLI and the extension alike): list them, ask
 * each for its status over its socket, stop them. A broker whose socket no longer answers is stale: its files are removed.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  brokerAnswer,
  brokerDir,
  DAEMON_COMMAND,
  infoPath,
  socketPath,
  unsafeDir,
  unsafeSocket,
  type BrokerStatus,
  type Listed,
} from '../../protocol/warm';
import { livePids } from './live';

const ANSWER_MS = 3000;

export type { Listed } from '../../protocol/warm';

/** Every broker of this user (optionally only those of one state folder), asking each over its socket. */
export async function listBrokers(stateDir?: string): Promise<Listed[]> {
  const dir = brokerDir();
  if (unsafeDir(dir)) return [];
  const names = fs.readdirSync(dir);
  const keys = names.filter((f) => f.endsWith('.sock')).map((f) => f.slice(0, -'.sock'.length));
  // a broker killed outright leaves its files; its socket goes at the next call or listing, and here its record
  for (const f of names.filter((n) => n.endsWith('.json') && !keys.includes(n.slice(0, -'.json'.length)))) {
    fs.rmSync(`${dir}/${f}`, { force: true });
  }
  const out = await Promise.all(
    keys.map(async (key): Promise<Listed> => {
      const answer = await ask(dir, key, 'Q');
      if (typeof answer === 'string') {
        if (!unsafeSocket(socketPath(dir, key)))
          for (const f of [socketPath(dir, key), infoPath(dir, key)]) fs.rmSync(f, { force: true });
        return { key, stale: answer };
      }
      return { key, status: answer };
    }),
  );
  return out.filter((l) => !stateDir || !l.status || l.status.stateDir === stateDir);
}

/** Stops the brokers of this user (of one state folder, when given) and waits for them to exit. */
export async function stopBrokers(stateDir?: string): Promise<BrokerStatus[]> {
  const dir = brokerDir();
  await stopStarting(dir, stateDir);
  const stopped: BrokerStatus[] = [];
  for (const l of await listBrokers(stateDir)) {
    if (!l.status) continue;
    const answer = await ask(dir, l.key, 'P');
    if (typeof answer === 'string') continue;
    stopped.push(answer);
    for (let i = 0; i < 100 && alive(answer.pid); i++) await new Promise((r) => setTimeout(r, 50));
  }
  // Brokers already stopping (no longer listening, finishing their commands) still hold their sandbox: waited for
  // too, so that what uninstall removes next is not in use.
  for (const pid of stateDir ? livePids(stateDir) : [])
    for (let i = 0; i < 200 && isStartingBroker(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return stopped;
}

/**
 * Ends brokers still starting (not listening yet, so not reachable by their socket): each is a process of ours
 * running the broker subcommand, named by a `boot-<pid>` file. Stale files (their process gone) are removed.
 */
async function stopStarting(dir: string, stateDir?: string): Promise<void> {
  if (unsafeDir(dir)) return;
  for (const f of fs.readdirSync(dir).filter((n) => /^boot-\d+$/.test(n))) {
    const pid = Number(f.slice('boot-'.length));
    const file = path.join(dir, f);
    let theirs: string | undefined;
    try {
      theirs = (JSON.parse(fs.readFileSync(file, 'utf8')) as { stateDir?: string }).stateDir;
    } catch {
      theirs = undefined;
    }
    if (stateDir && theirs !== stateDir) continue;
    if (isStartingBroker(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    }
    fs.rmSync(file, { force: true });
  }
}

/** True when `pid` is this user's broker process, starting or not (not a recycled pid of something else). */
function isStartingBroker(pid: number): boolean {
  try {
    return (
      fs.statSync(`/proc/${pid}`).uid === process.getuid?.() &&
      fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(DAEMON_COMMAND)
    );
  } catch {
    return false;
  }
}

/** Sends one frame and returns the broker's status answer, or why there was none. */
function ask(dir: string, key: string, type: 'Q' | 'P'): Promise<BrokerStatus | string> {
  const sock = socketPath(dir, key);
  const bad = unsafeSocket(sock);
  if (bad) return Promise.resolve(bad);
  return brokerAnswer(net.createConnection(sock), type, ANSWER_MS);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
