// The Windows warm broker's channel decisions (src/protocol/warm-pipe.ts): the pipe's name and DACL, and when the
// broker refuses a client or the client refuses a server. The calls that feed them are tested under Wine
// (test/native/win32/warm-pipe.test.ts); that the DACL keeps a sandboxed command out needs real Windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  brokerDirSddl,
  brokerPipeName,
  brokerPipeSddl,
  refuseClient,
  refuseServer,
  unsafeWinDir,
  type PeerIdentity,
} from '../../src/protocol/warm-pipe';

const ME = 'S-1-5-21-1111-2222-3333-1001';
const me = (over: Partial<PeerIdentity> = {}): PeerIdentity => ({
  pid: 4242,
  userSid: ME,
  restricted: false,
  appContainer: false,
  ...over,
});

test('the pipe name is per user and key, local, and does not show the SID', () => {
  const key = 'a'.repeat(32);
  const name = brokerPipeName(ME, key);
  assert.match(name, /^\\\\\.\\pipe\\agent-sandbox-[0-9a-f]{16}-a{32}$/);
  assert.ok(!name.includes('1001'));
  assert.notEqual(brokerPipeName('S-1-5-21-1111-2222-3333-1002', key), name, 'another user, another pipe');
  assert.notEqual(brokerPipeName(ME, 'b'.repeat(32)), name, 'another key, another pipe');
  assert.equal(brokerPipeName(ME.toLowerCase(), key), name, 'SIDs compare case-insensitively');
});

test('the DACL is protected and grants full access to the user SID alone (no Everyone, no sandbox SID)', () => {
  assert.equal(brokerPipeSddl(ME), `D:P(A;;FA;;;${ME})`);
  assert.equal(brokerPipeSddl(ME).match(/\(A;/g)?.length, 1);
});

test('the broker serves a client of its own user with a plain token only', () => {
  assert.equal(refuseClient(ME, me()), undefined);
  assert.equal(refuseClient(ME, me({ userSid: ME.toLowerCase() })), undefined);
  assert.match(refuseClient(ME, me({ userSid: 'S-1-5-21-1111-2222-3333-1002' }))!, /runs as S-1-5-21-.*-1002/);
  // a sandbox account's command, or ours under a restricted or AppContainer token
  assert.match(refuseClient(ME, me({ restricted: true }))!, /restricted token/);
  assert.match(refuseClient(ME, me({ appContainer: true }))!, /AppContainer/);
  assert.match(refuseClient(ME, new Error('OpenProcess failed with error 5'))!, /could not be identified/);
});

test('the client talks only to the recorded broker process of its own user', () => {
  assert.equal(refuseServer(ME, 4242, me()), undefined);
  assert.match(refuseServer(ME, 4243, me())!, /served by pid 4242, not the broker \(pid 4243\)/);
  assert.match(refuseServer(ME, 4242, me({ userSid: 'S-1-5-18' }))!, /runs as S-1-5-18/);
  assert.match(refuseServer(ME, 4242, me({ restricted: true }))!, /sandboxed/);
  assert.match(refuseServer(ME, 4242, me({ appContainer: true }))!, /sandboxed/);
  assert.match(refuseServer(ME, 4242, new Error('gone'))!, /could not be identified/);
});

test('unsafeWinDir: only a folder the user owns whose DACL lets nobody else (but SYSTEM, Administrators) write', () => {
  const me = 'S-1-5-21-1-2-3-1001';
  assert.equal(unsafeWinDir(me, me, brokerDirSddl(me)), undefined, 'the DACL the folder is made with');
  assert.equal(
    unsafeWinDir(me, me.toLowerCase(), `D:P(A;OICI;FA;;;${me})(A;OICI;FA;;;BA)(A;;0x1f01ff;;;S-1-5-18)`),
    undefined,
  );
  assert.equal(unsafeWinDir(me, me, `D:(A;;FA;;;${me})(A;;FR;;;WD)(A;;0x1200a9;;;BU)`), undefined, 'others may read');
  assert.match(unsafeWinDir(me, 'S-1-5-21-1-2-3-1002', brokerDirSddl(me)) ?? '', /belongs to S-1-5-21-1-2-3-1002/);
  assert.match(unsafeWinDir(me, me, 'D:NO_ACCESS_CONTROL') ?? '', /no DACL/);
  assert.match(unsafeWinDir(me, me, '') ?? '', /no DACL/);
  for (const rights of ['FA', 'FW', 'GA', 'GW', 'WD', 'WO', 'SD', 'DC', 'LC', 'DT', 'CR', '0x2', '0x40000', 'ZZ'])
    assert.match(
      unsafeWinDir(me, me, `D:P(A;;FA;;;${me})(A;OICI;${rights};;;S-1-5-21-1-2-3-1002)`) ?? '',
      /S-1-5-21-1-2-3-1002 may change the folder/,
      rights,
    );
  assert.match(unsafeWinDir(me, me, `D:(A;OICIIO;GW;;;WD)`) ?? '', /WD may change/, 'inherit-only entries count too');
  // a deny entry is no grant
  assert.equal(unsafeWinDir(me, me, `D:P(A;;FA;;;${me})(D;;FA;;;WD)`), undefined);
});
