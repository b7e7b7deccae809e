/**
 * The warm broker's channel behind one small interface, so that the daemon and the client are the same code on
 * both platforms: listen for a key's broker with every client checked, and connect to it with the server checked.
 *
 * - Linux: a Unix socket in the user's 0700 broker folder (src/protocol/warm.ts). The broker checks the folder and
 *   the client's uid (SO_PEERCRED) on every connect; the client checks the folder and the socket's owner (channel-unix.ts).
 * - Windows: a named pipe with a user-only DACL, the client's and server's processes checked (channel-win32.ts).
 *
 * Must never hand on a connection whose peer was not checked.
 */
import type { Duplex } from 'node:stream';

/** A listening broker's end of the channel. */
export interface ChannelListener {
  /** Why the address stopped being this listener's (replaced or removed), or undefined while it is. */
  lost(): string | undefined;
  /** Stops listening; true when the address was still ours (and is now gone). */
  close(): boolean;
}

/** Why a client did not get a broker: `stale` when nothing listens any more (its files were removed). */
export interface Refusal {
  why: string;
  stale: boolean;
}

/** The fast client's stdin, stdout, stderr, received by the broker (close-on-exec); `close` closes them. */
export interface ReceivedStdio {
  fds: [number, number, number];
  close(): void;
}

export interface WarmChannel {
  /** Why `dir` is not a broker folder only this user can change, or undefined ('missing' when it does not exist). */
  unsafeDir(dir: string): string | undefined;
  /** Makes the broker folder (if missing) as only this user may change it; why it cannot be used, or undefined. */
  makeDir(dir: string): string | undefined;
  /** Listens for `key`'s broker; undefined when a live broker (or anyone else) already holds the address. */
  listen(dir: string, key: string, onConnection: (conn: Duplex) => void): Promise<ChannelListener | undefined>;
  /** Connects to `key`'s broker, recorded as process `brokerPid`: the checked stream, or why not. */
  connect(dir: string, key: string, brokerPid: number): Promise<Duplex | Refusal>;
  /**
   * Broker side, Linux: asks the client on `conn` (checked, its hello accepted) for its stdin, stdout, stderr and
   * receives exactly those three descriptors; why not otherwise. Frames read on afterwards as before.
   */
  receiveStdio?(conn: Duplex): Promise<ReceivedStdio | string>;
}
