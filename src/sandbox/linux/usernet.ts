/**
 * Online without the host's loopback: an online sandbox gets its own network namespace, and slirp4netns (from the
 * distribution) gives it user-space networking to the outside with `--disable-host-loopback`, so a Node inspector,
 * Jupyter, a dev database or an IDE helper listening on the host's 127.0.0.1 is out of reach. The runner is sent
 * its configuration only once the network is up, so no command runs before. slirp4netns exits with the sandbox
 * (its exit pipe closes). Fails closed with the fix when slirp4netns is missing or cannot attach.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { SandboxError, SandboxErrorCode } from '../../errors';
import { BWRAP_DIRS, unsafeBwrap } from './probe';

/** The fd number bwrap reports the sandbox's pid on (the spawn's fifth stdio entry). */
export const INFO_FD = 4;
const READY_TIMEOUT_MS = 10_000;

export interface UserNet {
  close(): void;
}

/** slirp4netns from the root-owned system folders (never the caller's PATH, as for bwrap). */
export function findSlirp(): string | undefined {
  return BWRAP_DIRS.map((d) => path.join(d, 'slirp4netns')).find((p) => fs.existsSync(p) && !unsafeBwrap(p));
}

/**
 * Reads the sandbox's pid from bwrap's info fd, attaches slirp4netns to its network namespace and resolves once
 * the interface is configured. Throws SandboxError (the caller kills the sandbox) otherwise.
 */
export async function attachUserNet(child: ChildProcess): Promise<UserNet> {
  const slirp = findSlirp();
  if (!slirp) {
    throw new SandboxError(
      SandboxErrorCode.UserNetUnavailable,
      'An online sandbox gets its own network through slirp4netns, which is not installed, so nothing was run.',
      "Install it (`sudo apt-get install slirp4netns`), or set allowHostLoopback to share the host's network " +
        "(then the host's 127.0.0.1 services are reachable from online commands).",
    );
  }
  const pid = await sandboxPid(child.stdio[INFO_FD] as Readable);
  const args = ['--configure', '--mtu=65520', '--disable-host-loopback', '--ready-fd=3', '--exit-fd=4'];
  if (fs.readlinkSync(`/proc/${pid}/ns/user`) !== fs.readlinkSync('/proc/self/ns/user')) {
    args.push(`--userns-path=/proc/${pid}/ns/user`);
  }
  const net = spawn(slirp, [...args, String(pid), 'tap0'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  net.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const close = () => {
    (net.stdio[4] as NodeJS.WritableStream | null)?.end();
    net.kill('SIGKILL');
  };
  // Registered before waiting: a sandbox that ends while slirp4netns starts must not leave it behind.
  child.once('exit', close);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS);
      (net.stdio[3] as Readable).once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      net.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exit ${code}`));
      });
    });
  } catch (e) {
    close();
    throw new SandboxError(
      SandboxErrorCode.UserNetUnavailable,
      `slirp4netns could not give the online sandbox its network (${(e as Error).message}: ${stderr.trim()}), so nothing was run.`,
      "Check that slirp4netns works on this machine, or set allowHostLoopback to share the host's network.",
    );
  }
  if (child.exitCode !== null || child.signalCode !== null) close();
  return { close };
}

function sandboxPid(info: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (m) {
        info.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    info.on('data', onData);
    info.once('end', () =>
      reject(
        new SandboxError(
          SandboxErrorCode.BwrapUnusable,
          'bubblewrap ended before it reported the sandbox, so nothing was run.',
          'Run `agent-sandbox run -- true` to see why.',
        ),
      ),
    );
  });
}
