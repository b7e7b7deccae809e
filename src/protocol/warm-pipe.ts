/**
 * The Windows side of the warm broker's channel, as decisions (pure, so unit-tested on any platform): the name of a
 * broker's named pipe, the DACL it is created with, and when either end refuses the other.
 *
 * A broker listens on `\\.\pipe\agent-sandbox-<hash of the user's SID>-<key>`, created (first instance, local
 * clients only) with a protected DACL that grants the user's SID alone: no sandbox account, restricting SID,
 * AppContainer or Everyone may open it. On every connect the broker checks the client process (same user SID, a
 * token that is neither restricted nor an AppContainer's) and the client checks the server process (same user SID,
 * and the very process recorded as the key's broker). Must never accept a peer it could not inspect.
 */
import { createHash } from 'node:crypto';

/** What the OS says about the process at the other end of a pipe (native-bindings/win32/pipe-channel.ts). */
export interface PeerIdentity {
  pid: number;
  userSid: string;
  restricted: boolean;
  appContainer: boolean;
}

/** The pipe a broker for `key` listens on: per user (by a hash of the SID, which the name need not show) and key. */
export function brokerPipeName(userSid: string, key: string): string {
  const user = createHash('sha256').update(userSid.toUpperCase()).digest('hex').slice(0, 16);
  return `\\\\.\\pipe\\agent-sandbox-${user}-${key}`;
}

/** The broker pipe's DACL: protected (nothing inherited), full access for the user's SID, nothing for anyone else. */
export function brokerPipeSddl(userSid: string): string {
  return `D:P(A;;FA;;;${userSid})`;
}

/**
 * Why the broker must not serve the client at the other end of a pipe, or undefined. `peer` is what could be read
 * about it, or the error that kept it from being read (refused: a client we cannot inspect is not ours). A restricted
 * or AppContainer token is refused even with our SID as its user: that is how a sandboxed command of ours would look.
 */
export function refuseClient(ownSid: string, peer: PeerIdentity | Error): string | undefined {
  if (peer instanceof Error) return `the client could not be identified (${peer.message})`;
  if (peer.userSid.toUpperCase() !== ownSid.toUpperCase()) return `the client runs as ${peer.userSid}`;
  if (peer.restricted) return 'the client runs with a restricted token (a sandboxed process)';
  if (peer.appContainer) return 'the client runs in an AppContainer';
  return undefined;
}

/**
 * Why the client must not talk to the server at the other end of a pipe, or undefined: it must be our user's and the
 * process recorded as this key's broker (so a process that took the name is never sent a command or environment).
 */
export function refuseServer(ownSid: string, brokerPid: number, peer: PeerIdentity | Error): string | undefined {
  if (peer instanceof Error) return `the server could not be identified (${peer.message})`;
  if (peer.pid !== brokerPid) return `the pipe is served by pid ${peer.pid}, not the broker (pid ${brokerPid})`;
  if (peer.userSid.toUpperCase() !== ownSid.toUpperCase()) return `the server runs as ${peer.userSid}`;
  if (peer.restricted || peer.appContainer) return 'the server runs sandboxed';
  return undefined;
}
