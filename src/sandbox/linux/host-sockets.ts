/**
 * The host's Unix sockets that a sandboxed command could reach by path: read from /proc/net/unix at plan time so
 * the planner can hide every one outside the roots (hiding by default, not by a list of known daemons). Lists
 * sockets listening for connections and bound datagram sockets; never abstract names (the network namespace or
 * Landlock's scoping covers those). Loads no native code.
 */
import * as fs from 'node:fs';
import type { LinuxPlan } from '../../policy/plan';
import { LINUX_SANDBOX_TMP } from '../../policy/compile-linux';
import { isWithin } from '../../policy/paths';
import { brokerDir } from '../../protocol/warm';

/** `__SO_ACCEPTCON`: the socket is listening. */
const ACCEPTCON = 0x10000;
const SOCK_DGRAM = 2;

/** Paths in a /proc/net/unix table that accept connections or datagrams. Pure. */
export function parseListeningSockets(table: string): string[] {
  return [...new Set(listeningEntries(table).map((e) => e.path))];
}

/**
 * The same, each with its socket's inode number (which tells a socket re-created on the same path from the old
 * one), in table order. Pure.
 */
export function listeningEntries(table: string): { path: string; inode: string }[] {
  const out: { path: string; inode: string }[] = [];
  for (const line of table.split('\n').slice(1)) {
    // Num: RefCount Protocol Flags Type St Inode Path (the path may contain spaces)
    const m =
      /^\s*[0-9a-fA-F]+:\s+[0-9a-fA-F]+\s+[0-9a-fA-F]+\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+[0-9a-fA-F]+\s+(\d+)\s+(\/.*)$/.exec(
        line,
      );
    if (!m) continue;
    const flags = parseInt(m[1], 16);
    const type = parseInt(m[2], 16);
    if (flags & ACCEPTCON || type === SOCK_DGRAM) out.push({ path: m[4], inode: m[3] });
  }
  return out;
}

/**
 * The host's listening pathname sockets, or [] where /proc/net/unix cannot be read. The user's warm brokers' own
 * sockets are left out: they need no hiding (every sandbox's /tmp is its own, and no root may hold them), and
 * hiding them would tie every plan to them (a broker would retire the moment it listens, and a sandbox would be
 * stopped whenever a broker replaced its socket).
 */
export function hostListeningSockets(table = readUnixTable()): string[] {
  const brokers = `${brokerDir()}/`;
  return parseListeningSockets(table).filter((s) => !s.startsWith(brokers));
}

/** Where the host's table of Unix sockets is read (tests point it at a file that cannot be read). */
export const unixTable = { path: '/proc/net/unix' };

/** /proc/net/unix as text, or '' where it cannot be read. */
export function readUnixTable(): string {
  const r = tryReadUnixTable();
  return 'text' in r ? r.text : '';
}

/** /proc/net/unix as text, or why it cannot be read (the guard must not mistake that for "nothing listens"). */
export function tryReadUnixTable(): { text: string } | { error: string } {
  try {
    return { text: fs.readFileSync(unixTable.path, 'utf8') };
  } catch (e) {
    return { error: `${unixTable.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

/**
 * Sockets listening now that `plan` leaves reachable: outside the roots and outside everything the plan hides (or
 * replaces, like the host's /tmp; `alsoHidden`: folders the launch hides besides, as the proxy's socket folder),
 * each with its inode. A long-lived broker's plan was made before they listened;
 * the broker hides them when it starts (`hideSocketArgs`) and is retired when a new one appears (see broker.ts).
 */
export function lateSockets(
  plan: LinuxPlan,
  listening = hostListeningSockets(),
  alsoHidden: string[] = [],
): Map<string, number> {
  const out = new Map<string, number>();
  if (plan.confined === false) return out;
  const roots = [...plan.writableRoots, ...plan.workspaceRoots];
  const hidden = [
    LINUX_SANDBOX_TMP,
    ...plan.hiddenSockets,
    ...plan.denyRead,
    ...(plan.privateState ? [plan.privateState] : []),
    ...alsoHidden,
  ];
  for (const s of listening) {
    if ([...roots, ...hidden].some((h) => isWithin('linux', h, s))) continue;
    const st = fs.lstatSync(s, { throwIfNoEntry: false });
    if (st?.isSocket()) out.set(s, st.ino);
  }
  return out;
}

/** bwrap arguments hiding each socket behind /dev/null (added after the plan's own mounts). */
export function hideSocketArgs(sockets: Iterable<string>): string[] {
  return [...sockets].flatMap((s) => ['--ro-bind', '/dev/null', s]);
}
