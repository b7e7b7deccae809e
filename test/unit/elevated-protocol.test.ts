import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, Event, FrameDecoder, MAX_FRAME, ProtocolError, Request } from '../../src/protocol/windows';
import { PassThrough } from 'node:stream';
import { serveBroker } from '../../src/runner/windows/broker';
import { jobUiLimits } from '../../src/sandbox/windows/ui-isolation';
import {
  decodeRequest,
  encodeRequest,
  MAX_PAYLOAD_CHARS,
  type ElevatedRequest,
} from '../../src/sandbox/windows/setup/payload';

const spawn: Request = {
  type: 'spawn',
  id: 1,
  argv: ['cmd', '/c', 'echo "hi"'],
  cwd: 'C:\\src',
  env: { A: 'ü' },
  token: {
    flags: 0xd,
    restrictingSids: ['S-1-5-21-1-2-3-4', 'logon', 'S-1-1-0'],
    keepPrivileges: ['SeChangeNotifyPrivilege'],
    defaultDacl: [{ sid: 'logon', mask: 0x10000000 }],
  },
};

function raw(body: string | Buffer, len?: number): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const h = Buffer.alloc(4);
  h.writeUInt32LE(len ?? b.length);
  return Buffer.concat([h, b]);
}

test('frames: several messages in one chunk round-trip', () => {
  const d = new FrameDecoder(Request);
  const msgs: Request[] = [
    spawn,
    { type: 'stdin', id: 1, data: 'aGk=' },
    { type: 'stdin', id: 1, eof: true },
    { type: 'resize', id: 1, cols: 80, rows: 24 },
    { type: 'terminate', id: 1 },
  ];
  assert.deepEqual(d.push(Buffer.concat(msgs.map(encodeFrame))), msgs);
  d.end();
});

test('frames: a frame delivered one byte at a time is reassembled', () => {
  const d = new FrameDecoder(Event);
  const frame = encodeFrame({ type: 'exit', id: 3, code: 7 });
  const got: Event[] = [];
  for (const b of frame) got.push(...d.push(Buffer.from([b])));
  assert.deepEqual(got, [{ type: 'exit', id: 3, code: 7 }]);
  d.end();
});

test('frames: a stream that ends inside a frame is rejected', () => {
  const d = new FrameDecoder(Event);
  const frame = encodeFrame({ type: 'exit', id: 3, code: 0 });
  assert.deepEqual(d.push(frame.subarray(0, frame.length - 2)), []);
  assert.throws(() => d.end(), ProtocolError);
  const h = new FrameDecoder(Event);
  h.push(Buffer.from([5, 0]));
  assert.throws(() => h.end(), /inside a frame/);
});

test('frames: an oversized or zero length is rejected before the body arrives, and the decoder stays dead', () => {
  const d = new FrameDecoder(Request);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(MAX_FRAME + 1);
  assert.throws(() => d.push(head), /outside 1\.\./);
  assert.throws(() => d.push(encodeFrame(spawn)), ProtocolError);
  assert.throws(() => new FrameDecoder(Request).push(raw('', 0)), /outside/);
  assert.throws(
    () => encodeFrame({ type: 'output', id: 1, stream: 'stdout', data: 'A'.repeat(MAX_FRAME) }),
    ProtocolError,
  );
});

test('frames: unknown types, wrong direction, extra fields, bad base64 and non-JSON are rejected', () => {
  const bad = [
    raw(JSON.stringify({ type: 'shell', id: 1 })),
    raw(JSON.stringify({ type: 'exit', id: 1, code: 0 })), // an event sent as a request
    raw(JSON.stringify({ ...spawn, elevated: true })),
    raw(JSON.stringify({ ...spawn, argv: [] })),
    raw(JSON.stringify({ ...spawn, token: { ...(spawn as { token: object }).token, restrictingSids: ['WD'] } })),
    raw(JSON.stringify({ type: 'stdin', id: 1, data: 'not base64!' })),
    raw(JSON.stringify({ type: 'resize', id: 1, cols: 0, rows: 24 })),
    raw('{"type": "spawn"'),
    raw(Buffer.from([0xff, 0xfe, 0x7b, 0x7d])),
  ];
  for (const b of bad) assert.throws(() => new FrameDecoder(Request).push(b), ProtocolError, b.toString('hex'));
});

const req: ElevatedRequest = {
  version: 1,
  action: 'setup',
  pipe: '\\\\.\\pipe\\agent-sandbox-setup-0123abcd',
  nonce: '0123456789abcdef0123456789abcdef',
  stateDir: 'C:\\Users\\dév\\AppData\\Local\\AgentSandbox',
  home: 'C:\\Users\\dév',
  grants: [
    {
      path: 'C:\\src\\a "quoted" & folder',
      sid: 'sandbox-group',
      mask: { value: 1, names: ['FILE_READ_DATA'] },
      inheritance: { value: 3, names: [] },
      reason: 'writable-root',
    },
  ],
};

test('elevated payload: round-trips, and uses only characters that need no command-line quoting', () => {
  const text = encodeRequest(req);
  assert.match(text, /^asb1\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeRequest(text), req);
});

test('elevated payload: wrong tag, bad encoding, unknown fields, bad pipe names and oversize are rejected', () => {
  const enc = (o: unknown) => 'asb1.' + Buffer.from(JSON.stringify(o)).toString('base64url');
  assert.throws(() => decodeRequest('asb0.' + encodeRequest(req).slice(5)), /version tag/);
  assert.throws(() => decodeRequest('asb1.a b'), /base64url/);
  assert.throws(() => decodeRequest('asb1.' + Buffer.from('{').toString('base64url')), /not JSON/);
  assert.throws(() => decodeRequest(enc({ ...req, extra: 1 })), /rejected/);
  assert.throws(() => decodeRequest(enc({ ...req, pipe: '\\\\server\\pipe\\agent-sandbox-x' })), /rejected/);
  assert.throws(() => decodeRequest(enc({ ...req, nonce: 'short' })), /rejected/);
  assert.throws(() => decodeRequest(enc({ ...req, action: 'format-c' })), /rejected/);
  const many = { ...req, grants: Array.from({ length: 400 }, () => req.grants[0]) };
  assert.throws(() => encodeRequest(many), /limit/);
  assert.throws(() => decodeRequest('asb1.' + 'A'.repeat(MAX_PAYLOAD_CHARS)), /too long/);
});

test("runner ready message: carries the runner's own UI-limit gaps (Secondary Logon's job), none when it has none; the client's decoder accepts both", async () => {
  const readyOf = async (gaps?: string[]) => {
    const requests = new PassThrough();
    const events = new PassThrough();
    const chunks: Buffer[] = [];
    events.on('data', (b: Buffer) => chunks.push(b));
    requests.end();
    await serveBroker(requests, events, async () => assert.fail('nothing is spawned'), gaps);
    const [first] = new FrameDecoder(Event).push(Buffer.concat(chunks));
    assert.equal(first.type, 'ready');
    return first as Extract<Event, { type: 'ready' }>;
  };
  const gap = jobUiLimits({ inJob: true, breakawayOk: false }, true, 'runner').gaps;
  assert.equal(gap.length, 1);
  assert.match(gap[0], /sandbox runner runs inside the job Secondary Logon started it in/);
  assert.doesNotMatch(gap[0], /Agent Sandbox itself/, "the cause is the runner's job, not the developer's process");
  assert.deepEqual((await readyOf(gap)).uiGaps, gap);
  assert.equal((await readyOf()).uiGaps, undefined);
  assert.equal((await readyOf([])).uiGaps, undefined);
  assert.deepEqual(jobUiLimits({ inJob: true, breakawayOk: true }, true, 'runner'), {
    uiLimits: true,
    breakaway: true,
    gaps: [],
  });
});
