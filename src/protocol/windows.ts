/**
 * The broker protocol between the extension (or CLI) and a runner running as a sandbox user: length-prefixed JSON
 * frames (4-byte little-endian length, then UTF-8 JSON). Pure. The decoder rejects oversized frames, frames cut
 * off at end of stream, malformed JSON and unknown message types; after one rejection the stream is dead, so a
 * confused peer can never be half-understood.
 */
import * as z from 'zod';

/** Largest frame body. Output is sent in chunks of at most OUTPUT_CHUNK bytes, so real frames stay far below. */
export const MAX_FRAME = 1024 * 1024;
export const OUTPUT_CHUNK = 64 * 1024;
export const PROTOCOL_VERSION = 1;

const id = z.number().int().nonnegative();
const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const size = z.number().int().min(1).max(10_000);
const sidOrLogon = z.union([z.literal('logon'), z.string().regex(/^S-1-\d+(-\d+)+$/)]);

/** Requests, caller → runner. */
export const SpawnMsg = z.strictObject({
  type: z.literal('spawn'),
  id,
  argv: z.array(z.string()).min(1),
  cwd: z.string().min(1),
  env: z.record(z.string(), z.string()),
  tty: z.strictObject({ cols: size, rows: size }).optional(),
  /** Verify's internal test hook only (the plan's `weakened`): launch protections the runner leaves out. */
  weakened: z
    .strictObject({ noPseudoconsole: z.literal(true).optional(), noUiLimits: z.literal(true).optional() })
    .optional(),
  /** The command's token: a restricted copy of the runner's own. "logon" stands for the runner's logon SID. */
  token: z.strictObject({
    flags: z.number().int().nonnegative(),
    restrictingSids: z.array(sidOrLogon),
    keepPrivileges: z.array(z.string().regex(/^Se[A-Za-z]+Privilege$/)),
    defaultDacl: z.array(z.strictObject({ sid: sidOrLogon, mask: z.number().int().nonnegative() })),
  }),
});
const StdinMsg = z.strictObject({
  type: z.literal('stdin'),
  id,
  data: b64.optional(),
  eof: z.literal(true).optional(),
});
const ResizeMsg = z.strictObject({ type: z.literal('resize'), id, cols: size, rows: size });
const TerminateMsg = z.strictObject({ type: z.literal('terminate'), id });

/** Events, runner → caller. */
const ReadyMsg = z.strictObject({
  type: z.literal('ready'),
  pid: z.number().int().positive(),
  version: z.number().int(),
  /** What the runner could not isolate for its commands and why (its own job UI limits); reported with each result. */
  uiGaps: z.array(z.string().max(2000)).max(8).optional(),
});
const OutputMsg = z.strictObject({ type: z.literal('output'), id, stream: z.enum(['stdout', 'stderr']), data: b64 });
const ExitMsg = z.strictObject({ type: z.literal('exit'), id, code: z.number().int() });
const ErrorMsg = z.strictObject({ type: z.literal('error'), id: id.optional(), code: z.string(), message: z.string() });

export const Request = z.discriminatedUnion('type', [SpawnMsg, StdinMsg, ResizeMsg, TerminateMsg]);
export const Event = z.discriminatedUnion('type', [ReadyMsg, OutputMsg, ExitMsg, ErrorMsg]);
export type Request = z.infer<typeof Request>;
export type Event = z.infer<typeof Event>;
export type SpawnRequest = z.infer<typeof SpawnMsg>;

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** Any JSON-serialisable message; the broker sends Request/Event, setup sends its result. */
export function encodeFrame(msg: object): Buffer {
  const body = Buffer.from(JSON.stringify(msg), 'utf8');
  if (body.length > MAX_FRAME) throw new ProtocolError(`frame of ${body.length} bytes exceeds ${MAX_FRAME}`);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Reassembles frames from arbitrary chunks and validates each message against `schema`. */
export class FrameDecoder<T> {
  private buf: Buffer = Buffer.alloc(0);
  private dead: ProtocolError | undefined;

  constructor(private readonly schema: z.ZodType<T>) {}

  push(chunk: Buffer): T[] {
    if (this.dead) throw this.dead;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: T[] = [];
    try {
      while (this.buf.length >= 4) {
        const len = this.buf.readUInt32LE(0);
        if (len === 0 || len > MAX_FRAME) throw new ProtocolError(`frame length ${len} is outside 1..${MAX_FRAME}`);
        if (this.buf.length < 4 + len) break;
        out.push(this.parse(this.buf.subarray(4, 4 + len)));
        this.buf = this.buf.subarray(4 + len);
      }
    } catch (e) {
      this.dead = e as ProtocolError;
      throw e;
    }
    return out;
  }

  /** Call at end of stream: a partial frame left over means the peer was cut off mid-message. */
  end(): void {
    if (this.dead) throw this.dead;
    if (this.buf.length) {
      this.dead = new ProtocolError(`stream ended inside a frame (${this.buf.length} bytes left over)`);
      throw this.dead;
    }
  }

  private parse(body: Buffer): T {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch {
      throw new ProtocolError('frame is not valid UTF-8 JSON');
    }
    const r = this.schema.safeParse(json);
    if (!r.success) {
      const type = (json as { type?: unknown } | null)?.type;
      throw new ProtocolError(
        `rejected frame of type ${JSON.stringify(type)}: ${r.error.issues[0]?.message ?? 'invalid'}`,
      );
    }
    return r.data;
  }
}
