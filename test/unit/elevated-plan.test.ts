import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildSetupPlan,
  refusalReason,
  ruleUserSddl,
  UserFlags,
  USER_PRIV_USER,
} from '../../src/sandbox/windows/setup/setup-plan';
import { localUserAuthorizedList } from '../../src/sandbox/windows/setup/sddl';
import { pipeSddl } from '../../native-bindings/win32/pipe';
import { generatePassword } from '../../src/sandbox/windows/setup/password';
import { elevatedPlan } from './win32-elevated-plan-fixture';
import { READ_EXECUTE_MASK, WRITABLE_ROOT_MASK } from '../../src/policy/compile-win32';

const home = 'C:\\Users\\dev';
// The runtime folders as setup plans them: the runtime and git, the extension's folder, then configured tool folders.
const plan = () =>
  buildSetupPlan({
    plan: elevatedPlan(['C:\\src\\app', 'c:\\src\\app\\'], {
      runtimeDirs: [
        'C:\\Users\\dev\\AppData\\Local\\Programs\\Microsoft VS Code',
        'C:\\Users\\dev\\AppData\\Local\\Programs\\Git',
        'C:\\Users\\dev\\.vscode\\extensions\\agent-sandbox-0.1.0',
        'C:\\',
        home,
        'C:\\Windows\\System32',
      ],
    }),
    home,
  });

test('setup plan: two users with USER_PRIV_USER, password never expires, cannot change it, hidden, in Users and the group', () => {
  const p = plan();
  assert.deepEqual(
    p.users.map((u) => [u.name, u.network]),
    [
      ['AgentSandboxOffline', 'offline'],
      ['AgentSandboxOnline', 'online'],
    ],
  );
  for (const u of p.users) {
    assert.equal(u.priv, USER_PRIV_USER);
    assert.equal(u.flags, 0x1 | 0x40 | 0x10000);
    assert.ok(u.flags & UserFlags.UF_DONT_EXPIRE_PASSWD);
    assert.equal(u.hiddenFromSignIn, true);
    assert.deepEqual(u.memberOf, ['builtin-users', 'sandbox-group']);
  }
  assert.deepEqual(p.group, { name: 'AgentSandboxUsers', comment: p.group.comment });
  assert.equal(p.version, 2);
});

test('setup plan: the block rules are outbound, for all profiles, enabled, each scoped to one sandbox account', () => {
  const rules = plan().firewall;
  assert.equal(rules.length, 9);
  assert.equal(new Set(rules.map((r) => r.name)).size, rules.length, 'rule names are unique');
  for (const r of rules) {
    assert.deepEqual([r.direction, r.action, r.profiles, r.enabled], [2, 0, 0x7fffffff, true], r.name);
    assert.match(r.name, /^Agent Sandbox: block .* for AgentSandbox(Offline|Online)$/);
    assert.equal(r.name.endsWith('AgentSandboxOnline'), r.user === 'online', r.name);
  }
});

test('setup plan: read+execute on runtime dirs, write on workspace roots (deduplicated), refusals listed', () => {
  const p = plan();
  assert.deepEqual(
    p.grants.filter((g) => g.reason !== 'profile-traverse').map((g) => [g.path, g.reason]),
    [
      ['C:\\Users\\dev\\AppData\\Local\\Programs\\Microsoft VS Code', 'runtime-read'],
      ['C:\\Users\\dev\\AppData\\Local\\Programs\\Git', 'runtime-read'],
      ['C:\\Users\\dev\\.vscode\\extensions\\agent-sandbox-0.1.0', 'runtime-read'],
      ['C:\\src\\app', 'writable-root'],
    ],
  );
  assert.deepEqual(p.grants[0].mask, READ_EXECUTE_MASK);
  assert.deepEqual(p.grants[3].mask, WRITABLE_ROOT_MASK);
  assert.equal(p.grants[3].mask.value & 0x40, 0, 'FILE_DELETE_CHILD is never granted');
  assert.equal(p.grants[0].inheritance.value, 3);
  assert.deepEqual(
    p.refused.map((r) => r.path),
    ['C:', 'C:\\Users\\dev', 'C:\\Windows\\System32'],
  );
});

test("refusalReason: the policy's over-broad roots (drive roots, the profile, system folders), registry hives, UNC and relative paths are refused", () => {
  assert.match(refusalReason('D:\\', home) ?? '', /root of a drive/);
  assert.match(refusalReason('c:\\users\\DEV\\', home) ?? '', /home folder/);
  assert.match(
    refusalReason('C:\\Program Files\\Git', home) ?? '',
    /system folder/,
    'builtin Users can read it already',
  );
  assert.match(refusalReason('C:\\Users\\dev\\NTUSER.DAT', home) ?? '', /hive/);
  assert.match(refusalReason('\\\\server\\share', home) ?? '', /local absolute/);
  assert.match(refusalReason('relative\\dir', home) ?? '', /local absolute/);
  assert.equal(refusalReason('C:\\Users\\dev\\src', home), undefined);
});

test('SDDL: LocalUserAuthorizedList and the pipe DACLs name exactly one SID, protected, no Everyone', () => {
  const sid = 'S-1-5-21-1-2-3-1001';
  assert.equal(localUserAuthorizedList(sid), 'O:LSD:(A;;CC;;;S-1-5-21-1-2-3-1001)');
  assert.equal(ruleUserSddl(sid), localUserAuthorizedList(sid));
  // Broker pipes admit exactly the sandbox account; the setup result pipe exactly the Administrators alias.
  assert.match(pipeSddl([sid]), /^D:P\(A;;[A-Z]+;;;S-1-5-21-1-2-3-1001\)$/);
  assert.match(pipeSddl(['S-1-5-32-544']), /^D:P\(A;;[A-Z]+;;;S-1-5-32-544\)$/);
  for (const bad of ['', 'WD', 'S-1-5-21-1)(A;;GA;;;WD', 'S-1-1-0;', 'AgentSandboxOffline']) {
    assert.throws(() => localUserAuthorizedList(bad), /Not a SID/);
  }
});

test('passwords: 32 characters, every character class, no modulo bias source accepted, and at least 24 enforced', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = generatePassword();
    assert.equal(p.length, 32);
    assert.match(p, /[A-Z]/);
    assert.match(p, /[a-z]/);
    assert.match(p, /[0-9]/);
    assert.match(p, /[^A-Za-z0-9]/);
    seen.add(p);
  }
  assert.equal(seen.size, 200);
  assert.throws(() => generatePassword(16), /at least 24/);
  // Bytes at or above the rejection limit are never used: an all-0xff source yields nothing until it changes.
  let calls = 0;
  const src = (n: number) =>
    calls++ < 3 ? Buffer.alloc(n, 0xff) : Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + calls) % 216));
  assert.equal(generatePassword(24, src).length, 24);
  assert.ok(calls > 3);
});
