/** /proc/net/unix parsing: listening stream sockets and bound datagram sockets by path; never abstract names. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseListeningSockets } from '../../src/sandbox/linux/host-sockets';

test('listening and datagram pathname sockets are listed; connected, unnamed and abstract ones are not', () => {
  const table = [
    'Num       RefCount Protocol Flags    Type St Inode Path',
    '0000000000000000: 00000002 00000000 00010000 0001 01 1001 /run/screen/S-dev/123.pts-0.host',
    '0000000000000000: 00000002 00000000 00010000 0001 01 1002 /home/dev/.cache/git/credential/socket',
    '0000000000000000: 00000003 00000000 00000000 0001 03 1003 /run/dbus/system_bus_socket',
    '0000000000000000: 00000002 00000000 00000000 0002 01 1004 /run/systemd/journal/dev-log',
    '0000000000000000: 00000002 00000000 00010000 0001 01 1005 @/tmp/.X11-unix/X0',
    '0000000000000000: 00000003 00000000 00000000 0001 03 1006',
    '0000000000000000: 00000002 00000000 00010000 0001 01 1007 /home/dev/with space.sock',
  ].join('\n');
  assert.deepEqual(parseListeningSockets(table), [
    '/run/screen/S-dev/123.pts-0.host',
    '/home/dev/.cache/git/credential/socket',
    '/run/systemd/journal/dev-log',
    '/home/dev/with space.sock',
  ]);
});

test('Landlock losses are named exactly per ABI: none at 6+, abstract sockets below 6, everything at 0', async () => {
  const { landlockLosses } = await import('../../src/sandbox/linux/landlock-losses');
  assert.deepEqual(landlockLosses(6, false), []);
  assert.deepEqual(landlockLosses(7, true), []);
  assert.match(landlockLosses(5, false).join('\n'), /abstract Unix sockets .*online, the host's abstract sockets/);
  assert.equal(landlockLosses(4, true).length, 1);
  assert.match(landlockLosses(3, true).join('\n'), /ABI < 4: no Landlock TCP rule/);
  assert.match(landlockLosses(0, true).join('\n'), /no Landlock: .*bubblewrap/);
});
