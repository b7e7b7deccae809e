/**
 * The few bytes of the DNS wire format (RFC 1035) the verifier's resolver needs: read the question name of a
 * query and answer it with one A record. Pure. Never used to resolve real names.
 */

/** The question name of a DNS query, lower-cased, or undefined when the packet is not a one-question query. */
export function questionName(msg: Buffer): string | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length) {
    const len = msg[i];
    if (len === 0) return labels.join('.').toLowerCase();
    if (len > 63 || i + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  return undefined;
}

/** A response to `query` carrying one A record for `ipv4` with TTL 0, or undefined for a malformed query. */
export function answerA(query: Buffer, ipv4: string): Buffer | undefined {
  const name = questionName(query);
  if (name === undefined) return undefined;
  const questionEnd = 12 + name.split('.').reduce((n, l) => n + 1 + l.length, 0) + 1 + 4;
  if (questionEnd > query.length) return undefined;
  const header = Buffer.from(query.subarray(0, 12));
  header.writeUInt16BE(0x8180, 2); // response, recursion desired + available, no error
  header.writeUInt16BE(1, 6); // one answer
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(0, 10);
  const answer = Buffer.alloc(16);
  answer.writeUInt16BE(0xc00c, 0); // pointer to the question name
  answer.writeUInt16BE(1, 2); // type A
  answer.writeUInt16BE(1, 4); // class IN
  answer.writeUInt32BE(0, 6); // TTL
  answer.writeUInt16BE(4, 10);
  ipv4.split('.').forEach((octet, k) => answer.writeUInt8(Number(octet), 12 + k));
  return Buffer.concat([header, query.subarray(12, questionEnd), answer]);
}
