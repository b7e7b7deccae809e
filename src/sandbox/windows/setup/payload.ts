/**
 * What the unelevated caller hands to the elevated process, and what comes back. The request travels on the
 * command line of a UAC-elevated process, so it is base64url JSON (no character that needs quoting) with a version
 * tag and a size cap. The result travels back over a pipe as one frame. Pure. Passwords appear only in the result,
 * never on a command line.
 */
import * as z from 'zod';
import { isTraverseOnly } from '../ledger';

const PREFIX = 'asb1.';
/** Well under CreateProcess's 32767-character command line, with room for the runtime and script paths. */
export const MAX_PAYLOAD_CHARS = 24_000;

const Mask = z.strictObject({ value: z.number().int().nonnegative(), names: z.array(z.string()) });
const Grant = z
  .strictObject({
    path: z.string().min(1),
    sid: z.literal('sandbox-group'),
    mask: Mask,
    inheritance: Mask,
    reason: z.enum(['runtime-read', 'writable-root', 'profile-traverse']),
    createIfMissing: z.literal('dir').optional(),
  })
  // The only ACE the ledger lets onto the profile root: it must be traverse-only and non-inheriting.
  .refine(
    (g) =>
      g.reason !== 'profile-traverse' ||
      isTraverseOnly({ action: 'grant', mask: g.mask.value, inheritance: g.inheritance.value }),
    { message: 'a profile-traverse grant must be traverse-only and non-inheriting' },
  )
  .refine((g) => g.createIfMissing === undefined || g.reason === 'profile-traverse', {
    message: 'only a profile-traverse grant may create its folder',
  });

export const ElevatedRequest = z.strictObject({
  version: z.literal(1),
  action: z.enum(['setup', 'uninstall']),
  /** The result pipe the caller listens on (its DACL admits Administrators only). */
  pipe: z.string().regex(/^\\\\\.\\pipe\\agent-sandbox-[A-Za-z0-9-]+$/),
  /** Echoed in the result so the caller knows the answer is from the process it launched. */
  nonce: z.string().regex(/^[0-9a-f]{32}$/),
  /** The caller's state directory: the ledger lives there. */
  stateDir: z.string().min(1),
  /** The caller's profile folder, never granted on (the elevated process may run as another account). */
  home: z.string().min(1),
  /** Grants from the setup plan (setup only). */
  grants: z.array(Grant).default([]),
});
export type ElevatedRequest = z.infer<typeof ElevatedRequest>;

export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

export function encodeRequest(req: ElevatedRequest): string {
  const text = PREFIX + Buffer.from(JSON.stringify(ElevatedRequest.parse(req)), 'utf8').toString('base64url');
  if (text.length > MAX_PAYLOAD_CHARS) {
    throw new PayloadError(
      `setup request is ${text.length} characters; the limit is ${MAX_PAYLOAD_CHARS} (too many folders?)`,
    );
  }
  return text;
}

export function decodeRequest(text: string): ElevatedRequest {
  if (!text.startsWith(PREFIX)) throw new PayloadError('not an Agent Sandbox setup request (wrong version tag)');
  if (text.length > MAX_PAYLOAD_CHARS) throw new PayloadError('setup request too long');
  const body = text.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]*$/.test(body)) throw new PayloadError('setup request is not base64url');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new PayloadError('setup request is not JSON');
  }
  const r = ElevatedRequest.safeParse(json);
  if (!r.success) throw new PayloadError(`setup request rejected: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

const StepOutcome = z.strictObject({
  id: z.string(),
  title: z.string(),
  status: z.enum(['changed', 'unchanged', 'failed', 'skipped']),
  problems: z.array(z.string()),
  error: z.strictObject({ code: z.string(), message: z.string(), fix: z.string() }).optional(),
});
export type StepOutcome = z.infer<typeof StepOutcome>;

export const ElevatedResult = z.strictObject({
  type: z.literal('result'),
  nonce: z.string(),
  action: z.enum(['setup', 'uninstall']),
  ok: z.boolean(),
  steps: z.array(StepOutcome),
  /** Setup only: the accounts and their fresh passwords, to be protected with the caller's DPAPI at once. */
  users: z.array(
    z.strictObject({ network: z.enum(['offline', 'online']), name: z.string(), sid: z.string(), password: z.string() }),
  ),
  /** Uninstall only: what could not be removed, after re-querying. */
  leftovers: z.array(z.string()),
});
export type ElevatedResult = z.infer<typeof ElevatedResult>;
