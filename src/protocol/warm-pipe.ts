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

/**
 * The broker folder's DACL, set when the folder is made: protected, full control for the user's SID (and SYSTEM,
 * which has it anyway), inherited by the records inside.
 */
export function brokerDirSddl(userSid: string): string {
  return `D:P(A;OICI;FA;;;${userSid})(A;OICI;FA;;;SY)`;
}

/** SDDL right codes (files and folders, generic and standard rights) and their access masks. */
const RIGHTS: Record<string, number> = {
  GA: 0x10000000,
  GR: 0x80000000,
  GW: 0x40000000,
  GX: 0x20000000,
  RC: 0x20000,
  SD: 0x10000,
  WD: 0x40000,
  WO: 0x80000,
  FA: 0x1f01ff,
  FR: 0x120089,
  FW: 0x120116,
  FX: 0x1200a0,
  CC: 0x1,
  DC: 0x2,
  LC: 0x4,
  SW: 0x8,
  RP: 0x10,
  WP: 0x20,
  DT: 0x40,
  LO: 0x80,
  CR: 0x100,
};
/**
 * Any right that changes a folder or what is in it: add file or subfolder, write extended attributes, delete a child,
 * write attributes, delete, write the DACL or the owner, generic write or all.
 */
const WRITE_MASK = 0x2 | 0x4 | 0x10 | 0x40 | 0x100 | 0x10000 | 0x40000 | 0x80000 | 0x40000000 | 0x10000000;
/** SIDs that may write anything of the user's anyway: SYSTEM and the Administrators group (by SDDL alias or SID). */
const ALWAYS_ABLE = new Set(['SY', 'S-1-5-18', 'BA', 'S-1-5-32-544']);

/** An SDDL rights field as an access mask; unknown codes count as every right (so they refuse). */
function rightsMask(rights: string): number {
  if (/^0x[0-9a-f]+$/i.test(rights)) return Number.parseInt(rights, 16);
  let mask = 0;
  for (let i = 0; i < rights.length; i += 2) mask |= RIGHTS[rights.slice(i, i + 2).toUpperCase()] ?? 0xffffffff;
  return mask;
}

/**
 * Why a broker folder (Windows) is not one only this user can change, or undefined: its owner must be the user and
 * no allow entry of its DACL may give anyone else (but SYSTEM and Administrators) a right that writes. `dacl` is the
 * folder's DACL as SDDL (`D:...`); a missing (NULL) DACL lets everyone in. Its records name the broker's process,
 * which the client then trusts to serve the pipe, so another user must not be able to write them.
 */
export function unsafeWinDir(ownSid: string, owner: string, dacl: string): string | undefined {
  const me = ownSid.toUpperCase();
  if (owner.toUpperCase() !== me) return `the folder belongs to ${owner}`;
  if (!/^D:[A-Z]*\(/.test(dacl)) return `the folder has no DACL to keep others out (${dacl || 'none'})`;
  for (const ace of dacl.matchAll(/\(([^)]*)\)/g)) {
    const [type, , rights, , , sid] = ace[1].split(';');
    const who = (sid ?? '').toUpperCase();
    if (type !== 'A' || who === me || ALWAYS_ABLE.has(who)) continue;
    if (rightsMask(rights ?? '') & WRITE_MASK) return `${sid} may change the folder (${ace[0]})`;
  }
  return undefined;
}
