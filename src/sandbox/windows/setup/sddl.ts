/**
 * SDDL for the firewall rule's LocalUserAuthorizedList. Pure. The SID is validated first, so a malformed SID can
 * never widen the descriptor. (Pipe DACLs come from native-bindings/win32/pipe.ts's pipeSddl.)
 */

const SID_RE = /^S-1-\d+(-\d+){1,14}$/;

export function assertSid(sid: string): string {
  if (!SID_RE.test(sid)) throw new Error(`Not a SID string: "${sid}"`);
  return sid;
}

/** Firewall LocalUserAuthorizedList: the rule applies to traffic of exactly this user. */
export function localUserAuthorizedList(userSid: string): string {
  return `O:LSD:(A;;CC;;;${assertSid(userSid)})`;
}
