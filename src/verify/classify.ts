/**
 * Turns the probe's raw facts and what the host side saw into report rows. Pure and unit-tested. The host side
 * wins: a write whose file appeared on the host SUCCEEDED whatever the probe said. Anything ambiguous is FAILED,
 * never a pass.
 */
import { SECRET_SEEN, type Expected, type Observed, type ProbeFact, type VerifyCheck } from './types';

/** Which enforced property a check exercises; used to mark rows the plan itself declares unenforced. */
export type Category = 'filesystem' | 'deny-read' | 'network' | 'host-socket' | 'env' | 'process';

export type CheckKind = 'write' | 'read' | 'network' | 'env' | 'orphan';

export interface CheckDef {
  id: string;
  title: string;
  kind: CheckKind;
  category: Category;
  /** The row's meaning when the expectation holds. */
  held: string;
  /** The row's meaning when it does not. */
  broken: string;
  /** The path being invisible inside the sandbox is itself the protection (the real temp under a private /tmp). */
  invisibleMeansDenied?: boolean;
}

/** What the verifier saw outside the sandbox. `landed` is undefined when the host cannot tell. */
export interface HostSide {
  landed?: boolean;
  detail?: string;
  /** Set when the check's own setup failed (a listener that does not answer even from outside): FAILED. */
  unusable?: string;
}

/** Error codes that mean the sandbox (or the OS on its behalf) refused a file operation. */
const FS_DENIED = new Set(['EACCES', 'EPERM', 'EROFS']);
/** Error codes that mean a connection never reached the verifier's listener (checked reachable from outside). */
const NET_DENIED = new Set([
  'EAFNOSUPPORT',
  'EPERM',
  'EACCES',
  'ECONNREFUSED',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'TIMEOUT',
  'EADDRNOTAVAIL',
  'ENETDOWN',
  // a Unix socket the sandbox hides is simply not there
  'ENOENT',
  // the allowlist proxy refused: not allowed or a private address (403), no credential (407)
  'PROXY_403',
  'PROXY_407',
]);

export interface Classification {
  observed: Observed;
  detail: string;
}

export function classify(def: CheckDef, fact: ProbeFact | undefined, host: HostSide): Classification {
  if (host.unusable) return { observed: 'FAILED', detail: `could not test: ${host.unusable}` };
  const hostNote = host.detail ? `; ${host.detail}` : '';
  if (host.landed === true)
    return { observed: 'SUCCEEDED', detail: `the effect reached the host${describe(fact)}${hostNote}` };
  if (def.kind === 'orphan') return classifyOrphan(fact, host);
  if (!fact) return { observed: 'FAILED', detail: `the probe reported nothing for this check${hostNote}` };
  switch (def.kind) {
    case 'write':
      return classifyWrite(def, fact, host);
    case 'read':
      return classifyRead(fact);
    case 'network':
      return classifyNetwork(fact, host);
    case 'env':
      return fact.value
        ? { observed: 'SUCCEEDED', detail: `visible inside as ${fact.value}` }
        : { observed: 'DENIED', detail: 'no variable inside the sandbox carries the secret' };
  }
}

function classifyWrite(def: CheckDef, fact: ProbeFact, host: HostSide): Classification {
  if (fact.code === 'ANCHOR_MISSING') {
    return def.invisibleMeansDenied
      ? { observed: 'DENIED', detail: `the folder is not visible inside the sandbox (${fact.message ?? ''})` }
      : {
          observed: 'FAILED',
          detail: `could not test: ${fact.message ?? 'the target is not visible inside the sandbox'}`,
        };
  }
  if (fact.ok) {
    return host.landed === false
      ? {
          observed: 'FAILED',
          detail: `the probe wrote, but nothing appeared at the host path${host.detail ? `: ${host.detail}` : ''}`,
        }
      : { observed: 'SUCCEEDED', detail: `opened for writing${fact.value ? ` (${fact.value})` : ''}` };
  }
  if (fact.code && FS_DENIED.has(fact.code))
    return { observed: 'DENIED', detail: `${fact.code}: ${fact.message ?? ''}`.trim() };
  return { observed: 'FAILED', detail: `unexpected error ${fact.code ?? '?'}: ${fact.message ?? ''}`.trim() };
}

function classifyRead(fact: ProbeFact): Classification {
  if (fact.code === 'ANCHOR_MISSING')
    return { observed: 'FAILED', detail: `could not test: ${fact.message ?? ''}`.trim() };
  if (fact.ok && fact.value === SECRET_SEEN) return { observed: 'SUCCEEDED', detail: 'the probe read the secret file' };
  if (fact.ok) return { observed: 'DENIED', detail: 'the file reads as empty or different inside the sandbox' };
  if (fact.code === 'ENOENT' || (fact.code && FS_DENIED.has(fact.code))) {
    return { observed: 'DENIED', detail: `${fact.code}: ${fact.message ?? ''}`.trim() };
  }
  return { observed: 'FAILED', detail: `unexpected error ${fact.code ?? '?'}: ${fact.message ?? ''}`.trim() };
}

function classifyNetwork(fact: ProbeFact, host: HostSide): Classification {
  if (fact.ok) {
    return {
      observed: 'FAILED',
      detail: `the probe got an answer, but not from the verifier's listener${host.detail ? `: ${host.detail}` : ''}`,
    };
  }
  if (fact.code && (NET_DENIED.has(fact.code) || fact.code.startsWith('DNS_'))) {
    return { observed: 'DENIED', detail: `${fact.code}: ${fact.message ?? ''}`.trim() };
  }
  return { observed: 'FAILED', detail: `unexpected error ${fact.code ?? '?'}: ${fact.message ?? ''}`.trim() };
}

function classifyOrphan(fact: ProbeFact | undefined, host: HostSide): Classification {
  if (!fact?.ok) {
    return {
      observed: 'FAILED',
      detail: `could not test: the background process never started (${fact?.code ?? 'no report'}: ${fact?.message ?? ''})`,
    };
  }
  if (host.landed === undefined)
    return { observed: 'FAILED', detail: host.detail ?? 'the heartbeat could not be read' };
  return { observed: 'DENIED', detail: host.detail ?? 'the heartbeat stopped when the command ended' };
}

function describe(fact: ProbeFact | undefined): string {
  if (!fact) return '';
  return fact.ok ? '' : ` (the probe saw ${fact.code ?? 'an error'})`;
}

/**
 * The report row. `gaps` are the categories the plan or backend declares unenforced in this mode: an expected
 * denial that succeeded there is NOT_ENFORCED (still not a pass) rather than a broken promise.
 */
export function toRow(def: CheckDef, expected: Expected, c: Classification, gaps: ReadonlySet<Category>): VerifyCheck {
  const notEnforced = expected === 'DENIED' && c.observed === 'SUCCEEDED' && gaps.has(def.category);
  const observed: Observed = notEnforced ? 'NOT_ENFORCED' : c.observed;
  const pass = observed === expected;
  return {
    id: def.id,
    title: def.title,
    expected,
    observed,
    pass,
    meaning: meaningOf(def, observed, pass),
    detail: c.detail,
  };
}

function meaningOf(def: CheckDef, observed: Observed, pass: boolean): string {
  if (pass) return def.held;
  if (observed === 'FAILED') return `Could not be checked, so this is unproven: ${lower(def.held)}`;
  if (observed === 'NOT_ENFORCED') return `Not enforced in this mode: ${lower(def.broken)}`;
  return def.broken;
}

function lower(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
