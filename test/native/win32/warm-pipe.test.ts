// Wine tier: the warm broker's named-pipe channel (native-bindings/win32/pipe-channel.ts, src/cli/warm/channel-win32.ts).
// Plumbing only: Wine stores a pipe's DACL and implements the pipe/process/token queries, but enforces no DACL and
// keeps no restricting SIDs, so that a sandboxed command cannot open the pipe is a real-Windows test (skipped here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { handleDaclSddl } from '../../../native-bindings/win32/acl';
import { closeAll } from '../../../native-bindings/win32/handle';
import { Job } from '../../../native-bindings/win32/job';
import { createPipePair, createPipeServer, pipeSddl } from '../../../native-bindings/win32/pipe';
import {
  pipeClientPid,
  isServerEnd,
  pipeServerPid,
  processIdentity,
  type PipeStream,
} from '../../../native-bindings/win32/pipe-channel';
import { createProcessAsUser } from '../../../native-bindings/win32/process';
import { randomCapabilitySid } from '../../../native-bindings/win32/sid';
import {
  buildRestrictedToken,
  openProcessToken,
  RestrictedTokenFlags,
  tokenLogonSid,
} from '../../../native-bindings/win32/token';
import { isWine } from '../../../native-bindings/win32/wine';
import { buildCommandLine } from '../../../src/sandbox/windows/cmdline';
import {
  connectBrokerPipe,
  currentUserSid,
  listenBrokerPipe,
  listenerOf,
  pipeChannel,
} from '../../../src/cli/warm/channel-win32';
import { infoPath } from '../../../src/protocol/warm';
import { brokerPipeName, brokerPipeSddl } from '../../../src/protocol/warm-pipe';

const CHANNEL = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'warm', 'channel-win32.js');
const BINDING = path.join(__dirname, '..', '..', '..', 'native-bindings', 'win32', 'pipe-channel.js');

function freshKey(): string {
  return randomBytes(16).toString('hex');
}

function collect(s: Duplex | Socket, bytes = Infinity): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    s.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= bytes) resolve(Buffer.concat(parts));
    });
    s.once('close', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

/** A server that echoes every connection back, handing each accepted stream to `seen`. */
function echoServer(key: string, seen: (c: PipeStream) => void = () => undefined, refused: string[] = []) {
  const server = listenBrokerPipe(
    key,
    (conn) => {
      seen(conn as PipeStream);
      conn.on('data', (d: Buffer) => conn.write(d));
    },
    (why) => refused.push(why),
  );
  assert.ok(server, 'the broker pipe listens');
  return server;
}

test('broker pipe: created with a protected DACL granting only the user SID, as a server end (read back through its handle; stored, not enforced, by Wine; plumbing only)', async () => {
  const server = echoServer(freshKey());
  try {
    const h = server.listeningHandle;
    assert.ok(h, 'an instance waits for a client');
    assert.equal(handleDaclSddl(h.value), `D:P(A;;FA;;;${currentUserSid()})`);
    assert.equal(handleDaclSddl(h.value), brokerPipeSddl(currentUserSid()));
    assert.equal(isServerEnd(h), true);
  } finally {
    await server.close();
  }
});

test(
  'broker pipe: a second broker on the same key is refused, and a pipe someone else created first under the name is never joined (FILE_FLAG_FIRST_PIPE_INSTANCE; needs real Windows)',
  { skip: isWine() && 'Wine 8 ignores FILE_FLAG_FIRST_PIPE_INSTANCE (observed: a second first instance is created)' },
  async () => {
    const key = freshKey();
    const server = echoServer(key);
    try {
      assert.equal(
        listenBrokerPipe(key, () => undefined),
        undefined,
      );
    } finally {
      await server.close();
    }
    // a squatter's pipe, with a DACL open to Everyone: the broker must not add an instance to it
    const squatKey = freshKey();
    const squatter = createPipeServer(brokerPipeName(currentUserSid(), squatKey), pipeSddl(['S-1-1-0']));
    try {
      assert.equal(
        listenBrokerPipe(squatKey, () => undefined),
        undefined,
      );
    } finally {
      squatter.close();
    }
  },
);

test('broker pipe: full duplex between the checked ends, 1 MiB each way at once; ending closes both ways (a pipe has no half-close) and the other end sees it (plumbing only)', async () => {
  const key = freshKey();
  let serverSide: PipeStream | undefined;
  const server = echoServer(key, (c) => (serverSide = c));
  try {
    const conn = await connectBrokerPipe(key, process.pid);
    assert.ok(typeof conn !== 'string', `connected: ${String(conn)}`);
    const data = randomBytes(1 << 20);
    const back = collect(conn, data.length);
    conn.write(data);
    assert.ok((await back).equals(data), 'every byte came back in order');
    assert.ok(serverSide);
    const serverClosed = new Promise((r) => serverSide!.once('close', r));
    conn.end();
    await serverClosed;
  } finally {
    await server.close();
  }
});

test('broker pipe: the client checks the server against the real process (its pid and user SID); a pipe served by any pid but the recorded broker is refused (plumbing only)', async () => {
  const key = freshKey();
  let serverSide: PipeStream | undefined;
  const server = echoServer(key, (c) => (serverSide = c));
  try {
    const ok = await connectBrokerPipe(key, process.pid);
    assert.ok(typeof ok !== 'string', `connected: ${String(ok)}`);
    const client = ok as PipeStream;
    assert.equal(pipeServerPid(client.handle), process.pid);
    const id = processIdentity(pipeServerPid(client.handle));
    assert.equal(id.userSid, currentUserSid());
    assert.equal(id.appContainer, false);
    client.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(serverSide, 'the server saw the connection');
    const refused = await connectBrokerPipe(key, process.pid + 4);
    assert.equal(typeof refused, 'string');
    assert.match(refused as string, /served by pid \d+, not the broker/);
  } finally {
    await server.close();
  }
});

test('broker pipe: the server checks a client in another process against that real process (pid from the pipe, user SID from its token) and serves it (plumbing only)', async () => {
  const key = freshKey();
  const clients: number[] = [];
  const server = echoServer(key, (c) => clients.push(pipeClientPid(c.handle)));
  try {
    const script =
      `require(${JSON.stringify(CHANNEL)}).connectBrokerPipe(${JSON.stringify(key)}, ${process.pid}).then((c) => {` +
      `if (typeof c === 'string') { console.log('refused: ' + c); return; }` +
      `let s = ''; c.setEncoding('utf8').on('data', (d) => { s += d; if (s.length >= 14) { console.log('echo: ' + s); c.end(); } });` +
      `c.write('from the child'); })`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    await new Promise((r) => child.once('close', r));
    assert.match(out, /echo: from the child/);
    assert.deepEqual(clients, [child.pid]);
  } finally {
    await server.close();
  }
});

test('broker pipe: once the broker is gone its pipe is gone too: the client is told there is no broker (the call runs cold; plumbing only)', async () => {
  const key = freshKey();
  const server = echoServer(key);
  await server.close();
  assert.equal(await connectBrokerPipe(key, process.pid), 'no broker listens');
  assert.equal(await connectBrokerPipe(freshKey(), process.pid), 'no broker listens');
});

test('the Windows warm channel (the interface the daemon and client share): listen, a checked connection served, the record of a broker that no longer listens removed as stale (plumbing only)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-warm-'));
  const key = freshKey();
  try {
    const served: Buffer[] = [];
    const listener = await pipeChannel.listen(dir, key, (c) => c.on('data', (d: Buffer) => served.push(d)));
    assert.ok(listener);
    const second = await pipeChannel.listen(dir, key, () => undefined);
    if (!isWine()) assert.equal(second, undefined, 'a second broker on the key is refused');
    second?.close(); // Wine ignores FILE_FLAG_FIRST_PIPE_INSTANCE
    assert.equal(listener.lost(), undefined);
    const conn = await pipeChannel.connect(dir, key, process.pid);
    assert.ok(!('why' in conn), 'connected to the recorded broker');
    conn.write('H');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(Buffer.concat(served).toString(), 'H');
    conn.destroy();
    const wrong = await pipeChannel.connect(dir, key, process.pid + 4);
    assert.ok('why' in wrong, 'a server that is not the recorded broker pid is refused');
    assert.equal(wrong.stale, false);
    assert.equal(listener.close(), true);
    await new Promise((r) => setTimeout(r, 100));
    fs.writeFileSync(infoPath(dir, key), '{}');
    const gone = await pipeChannel.connect(dir, key, process.pid);
    assert.deepEqual(gone, { why: 'no broker listens', stale: true });
    assert.equal(fs.existsSync(infoPath(dir, key)), false, 'the stale record is removed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the Windows warm channel: a listener that can no longer wait for clients says it is lost (the daemon then stops; plumbing only)', async () => {
  const server = listenBrokerPipe(freshKey(), () => undefined);
  assert.ok(server);
  const listener = listenerOf(server);
  try {
    assert.equal(listener.lost(), undefined);
    server.listeningHandle!.close(); // its pending ConnectNamedPipe fails
    for (let i = 0; i < 40 && !listener.lost(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(listener.lost() ?? '', /failed with error/);
  } finally {
    listener.close();
  }
});

test(
  'broker pipe: a command under a sandbox-style restricted token cannot open it (DACL) nor be served (restricted token) (needs real Windows)',
  { skip: isWine() && 'Wine enforces no pipe DACL and drops restricting SIDs, so the child would connect' },
  async () => {
    const key = freshKey();
    const refused: string[] = [];
    const served: number[] = [];
    const server = echoServer(key, (c) => served.push(pipeClientPid(c.handle)), refused);
    const own = openProcessToken();
    const logon = tokenLogonSid(own);
    own.close();
    const cap = randomCapabilitySid();
    const token = buildRestrictedToken({
      flags:
        RestrictedTokenFlags.DISABLE_MAX_PRIVILEGE |
        RestrictedTokenFlags.LUA_TOKEN |
        RestrictedTokenFlags.WRITE_RESTRICTED,
      restrictingSids: [cap, logon, 'S-1-1-0'],
      keepPrivileges: ['SeChangeNotifyPrivilege'],
      defaultDacl: [
        { sid: logon, mask: 0x10000000 },
        { sid: cap, mask: 0x10000000 },
      ],
    });
    const job = Job.createKillOnClose();
    const out = await createPipePair('out', pipeSddl([currentUserSid()]));
    try {
      const script =
        `require(${JSON.stringify(BINDING)}).connectPipe(${JSON.stringify(brokerPipeName(currentUserSid(), key))})` +
        `.then((c) => { process.stdout.write(c ? 'opened' : 'missing'); c && c.destroy(); }, (e) => process.stdout.write('error ' + e.code))`;
      const { commandLine } = buildCommandLine(process.execPath, ['-e', script], process.execPath);
      const child = createProcessAsUser({
        token,
        commandLine,
        cwd: process.cwd(),
        env: { ...process.env } as Record<string, string>,
        stdio: [out.server.value, out.server.value, out.server.value],
        job,
      });
      closeAll(out.server);
      const [text] = await Promise.all([collect(out.socket), child.wait()]);
      child.close();
      assert.equal(text.toString(), 'error 5', 'ERROR_ACCESS_DENIED: the DACL grants only the user SID');
      assert.deepEqual(served, []);
    } finally {
      closeAll(out.server, job, token);
      out.socket.destroy();
      await server.close();
    }
  },
);
