// Wine tier: named pipes created with an explicit DACL, read and written by Node `net`. Wine stores a pipe's DACL
// but does not enforce it, so nothing here claims another user is kept out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPipePair, createPipeServer, pipeSddl, uniquePipeName } from '../../../native-bindings/win32/pipe';
import { handleDaclSddl } from '../../../native-bindings/win32/acl';
import { openProcessToken, tokenUserSid } from '../../../native-bindings/win32/token';
import { Win32Error } from '../../../native-bindings/win32/errors';

function userSid(): string {
  const t = openProcessToken();
  try {
    return tokenUserSid(t);
  } finally {
    t.close();
  }
}

test('a pipe is created with exactly the DACL asked for (read back through its handle; stored, not enforced, by Wine)', () => {
  const sid = userSid();
  const server = createPipeServer(uniquePipeName('dacl'), pipeSddl([sid]));
  try {
    assert.equal(handleDaclSddl(server.value), `D:P(A;;FA;;;${sid})`);
  } finally {
    server.close();
  }
});

test('a second server on the same name is refused (FILE_FLAG_FIRST_PIPE_INSTANCE) with Win32Error', () => {
  const name = uniquePipeName('first');
  const sddl = pipeSddl([userSid()]);
  const server = createPipeServer(name, sddl);
  try {
    assert.throws(
      () => createPipeServer(name, sddl),
      (e: unknown) => e instanceof Win32Error && e.api === 'CreateNamedPipeW' && (e.code === 5 || e.code === 231),
    );
  } finally {
    server.close();
  }
});

test('Node net reads what is written to the server end and EOF arrives when it closes', async () => {
  const pair = await createPipePair('rw', pipeSddl([userSid()]));
  const WriteFile = (await import('../../../native-bindings/win32/lib')).lazyFn(
    'kernel32.dll',
    'bool WriteFile(void *h, void *buf, uint32 len, _Out_ uint32 *written, void *overlapped)',
  );
  const got = new Promise<string>((resolve) => {
    let s = '';
    pair.socket
      .setEncoding('utf8')
      .on('data', (d) => (s += d))
      .on('end', () => resolve(s));
  });
  const data = Buffer.from('through the pipe');
  assert.ok(WriteFile(pair.server.value, data, data.length, [0], null));
  pair.server.close();
  assert.equal(await got, 'through the pipe');
  pair.socket.destroy();
});
