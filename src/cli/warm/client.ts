/**
 * The warm path of `agent-sandbox run`, tried by the launcher before the CLI bundle is loaded: find this user's
 * live broker for the call's inputs, hand it the command with the caller's environment and working folder, and
 * relay stdin, stdout, stderr, cancellation and the exit code. Anything short of the broker accepting the command
 * (no broker, a stale socket, a refusal because the plan changed) resolves false and the call runs cold, which
 * starts a fresh broker; a stale socket is removed on the way. Once accepted, the broker going away mid-command
 * exits 125, never hangs. Same contract as cold: the command's own code, 124 on timeout, 128+N for signal N.
 */
import * as fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { isatty } from 'node:tty';
import { warmChannel } from './channels';
import {
  brokerDir,
  FrameReader,
  frame,
  infoPath,
  inputKey,
  warmCall,
  WARM_PROTOCOL,
  type BrokerInfo,
  type RunCall,
} from '../../protocol/warm';

const SANDBOX_FAILED = 125;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Resolves true when a broker ran the command (process.exitCode is then set), false when the call must go cold. */
export function runWarm(argv: string[], bundle: string): Promise<boolean> {
  const call = warmCall(argv, process.env, isatty);
  if (!call) return Promise.resolve(false);
  const dir = brokerDir();
  const cwd = process.cwd();
  const key = inputKey(call.policyArgs, cwd, process.env, bundle);
  let info: BrokerInfo;
  try {
    info = JSON.parse(fs.readFileSync(infoPath(dir, key), 'utf8')) as BrokerInfo;
  } catch {
    return Promise.resolve(false); // no broker: the channel (on Windows, the CLI bundle) is not even loaded
  }
  const channel = warmChannel();
  const bad = channel.unsafeDir(dir);
  if (bad) {
    report(`${bad}; running cold`);
    return Promise.resolve(false);
  }
  const hello = {
    v: WARM_PROTOCOL,
    key,
    planHash: info.planHash,
    policyArgs: call.policyArgs,
    cwd,
    env: process.env,
    argv: call.command,
    timeoutMs: call.timeoutMs,
  };
  return channel.connect(dir, key, info.pid).then((conn) => {
    if ('why' in conn) {
      report(`${conn.why}; running cold`);
      return false;
    }
    return offer(conn, hello, call);
  });
}

/** Sends the hello on a checked connection; true once the broker accepted the command (then relayed to its end). */
function offer(conn: Duplex, hello: object, call: RunCall): Promise<boolean> {
  return new Promise((resolve) => {
    let accepted = false;
    conn.on('error', (e: NodeJS.ErrnoException) => {
      if (accepted) return; // the relay's 'close' handles it
      report(`not reachable (${e.code ?? e.message}); running cold`);
      resolve(false);
    });
    conn.write(frame('H', JSON.stringify(hello)));
    let onFrame = (type: string, payload: Buffer): void => {
      if (type !== 'A') {
        report(`refused (${payload.toString()})`);
        conn.destroy();
        return resolve(false);
      }
      accepted = true;
      onFrame = relay(conn, call); // frames after 'A' in the same chunk go straight on to the relay
      resolve(true);
    };
    const reader = new FrameReader((type, payload) => onFrame(type, payload));
    conn.on('data', (d: Buffer) => reader.push(d));
    conn.once('close', () => {
      if (!accepted) resolve(false);
    });
  });
}

/** Streams the accepted command's stdio and signals until its exit frame (or the broker's end); returns the frame handler. */
function relay(conn: Duplex, call: RunCall): (type: string, payload: Buffer) => void {
  let exited = false;
  const cancel = () => conn.write(frame('K'));
  for (const s of SIGNALS) process.on(s, cancel);
  const stdin = process.stdin;
  stdin.on('data', (d: Buffer) => conn.write(frame('I', d)));
  stdin.once('end', () => conn.write(frame('E')));
  stdin.once('error', () => conn.write(frame('E')));
  const done = (code: number) => {
    exited = true;
    process.exitCode = code;
    for (const s of SIGNALS) process.off(s, cancel);
    stdin.destroy();
    conn.end();
  };
  conn.once('close', () => {
    if (exited) return;
    process.stderr.write(
      'agent-sandbox: the sandbox broker ended before the command did; its sandbox is gone with it.\n',
    );
    done(SANDBOX_FAILED);
  });
  return (type, payload) => {
    if (type === 'O') process.stdout.write(payload);
    else if (type === 'X') process.stderr.write(payload);
    else if (type === 'Z') {
      const exit = JSON.parse(payload.toString()) as { code: number; timedOut?: boolean; untrusted?: string };
      if (exit.timedOut) {
        process.stderr.write(
          `agent-sandbox: timed out after ${(call.timeoutMs ?? 0) / 1000}s; the command was killed.\n`,
        );
      }
      if (exit.untrusted) process.stderr.write(`agent-sandbox: warning: ${exit.untrusted}\n`); // as a cold run reports it
      done(exit.code);
    }
  };
}

/** `AGENT_SANDBOX_BROKER=report`: say on stderr why a call did not go warm. */
function report(what: string): void {
  if (process.env.AGENT_SANDBOX_BROKER === 'report') process.stderr.write(`agent-sandbox: broker: ${what}\n`);
}
