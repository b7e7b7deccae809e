/**
 * Which addresses a name may not lead to without being allowed literally: loopback, private, link-local, unique
 * local, carrier-grade NAT, unspecified, multicast and the like (anything ipaddr.js does not call `unicast`).
 * IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry. Pure.
 */
import ipaddr from 'ipaddr.js';

/** The address in one canonical text form (IPv4 dotted, IPv6 compressed; IPv4-mapped as IPv4). */
export function canonicalAddress(address: string): string {
  const a = ipaddr.process(address.replace(/^\[|\]$/g, ''));
  return a.toString();
}

/** The ipaddr.js range name when the address is not public unicast (`loopback`, `private`, ...); else undefined. */
export function nonPublicRange(address: string): string | undefined {
  let a: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    a = ipaddr.process(address.replace(/^\[|\]$/g, ''));
  } catch {
    return 'invalid';
  }
  const range = a.range();
  return range === 'unicast' ? undefined : range;
}
