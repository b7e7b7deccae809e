// Wine tier: the private desktop's plumbing (CreateDesktopW with a DACL, its name read back, lpDesktop reaching
// the child in CreateProcessAsUserW) and the pipe path's hidden pseudoconsole with separate stdout/stderr pipes.
// Wine implements desktops but not the isolation a desktop gives (input, hooks, DACL enforcement): that only real
// Windows (Verify) can show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Socket } from 'node:net';
import {
  currentDesktopName,
  currentWindowStation,
  desktopSddl,
  PrivateDesktop,
  privateDesktopName,
} from '../../../native-bindings/win32/desktop';
import { handleDaclSddl, HandleObjectType, SecurityDescriptor } from '../../../native-bindings/win32/acl';
import { openProcessToken, tokenLogonSid, tokenUserSid } from '../../../native-bindings/win32/token';
import { startRestricted } from '../../../src/sandbox/windows/launch';
import { isWine } from '../../../native-bindings/win32/wine';

function sids() {
  using t = openProcessToken();
  return { user: tokenUserSid(t), logon: tokenLogonSid(t) };
}

function collect(s: Socket | null): Promise<string> {
  return new Promise((resolve) => {
    if (!s) return resolve('');
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
  });
}

async function run(argv: string[], desktop?: string, hiddenConsole?: false) {
  const { user, logon } = sids();
  const proc = await startRestricted({
    argv,
    cwd: process.cwd(),
    env: { ...process.env } as Record<string, string>,
    pipeOwnerSid: user,
    pipePrefix: 'desktop-test',
    ui: { uiLimits: true, breakaway: false, ...(desktop ? { desktop } : {}) },
    ...(hiddenConsole === false ? { hiddenConsole } : {}),
    token: {
      flags: 0,
      restrictingSids: [logon, 'S-1-1-0'],
      keepPrivileges: ['SeChangeNotifyPrivilege'],
      defaultDacl: [{ sid: logon, mask: 0x10000000 }],
    },
  });
  try {
    proc.stdin.end();
    const [stdout, stderr, code] = await Promise.all([collect(proc.stdout), collect(proc.stderr), proc.exited]);
    return { stdout, stderr, code };
  } finally {
    proc[Symbol.dispose]();
  }
}

test('Wine: CreateDesktopW makes a desktop in this window station whose name reads back (plumbing; isolation needs real Windows)', () => {
  const name = privateDesktopName();
  assert.match(name, /^AgentSandbox-[0-9a-f]{16}$/);
  assert.notEqual(name, privateDesktopName());
  using d = PrivateDesktop.create(name, desktopSddl([sids().logon]));
  assert.equal(d.lpDesktop, `${currentWindowStation()}\\${name}`);
});

test("Wine: the SDDL the backend builds for CreateDesktopW is exactly the protected DACL (SYSTEM and the sandbox SID) and converts to a descriptor and back; the desktop's DACL query marshals (plumbing only; Wine stores no desktop DACL)", () => {
  const { logon } = sids();
  const want = desktopSddl([logon]);
  assert.equal(want, `D:P(A;;GA;;;SY)(A;;GA;;;${logon})`);
  // What PrivateDesktop.create passes in SECURITY_ATTRIBUTES, converted back: SDDL conversion Wine implements.
  const sd = SecurityDescriptor.fromSddl(want);
  try {
    assert.equal(sd.toSddl(), want);
  } finally {
    sd.close();
  }
  using d = PrivateDesktop.create(privateDesktopName(), want);
  // GetSecurityInfo on the desktop handle: the call path works; what it returns is Windows' to prove (next test).
  assert.equal(typeof handleDaclSddl(d.handle, HandleObjectType.WINDOW), 'string');
});

test(
  "the private desktop's DACL reads back as given: protected, SYSTEM and the sandbox SID only (needs real Windows)",
  { skip: isWine() && "Wine does not store a desktop's DACL (GetSecurityInfo returns an empty one)" },
  () => {
    const { logon } = sids();
    using d = PrivateDesktop.create(privateDesktopName(), desktopSddl([logon]));
    const sddl = handleDaclSddl(d.handle, HandleObjectType.WINDOW);
    assert.match(sddl, /^D:P/);
    assert.deepEqual(
      (sddl.match(/\([^)]*\)/g) ?? []).map((ace) => ace.split(';').pop()!.replace(')', '')).sort(),
      ['SY', logon].sort(),
      sddl,
    );
  },
);

test("Wine: a command started with lpDesktop runs on that desktop; control: without it, on this process's desktop", async () => {
  const { logon } = sids();
  using d = PrivateDesktop.create(privateDesktopName(), desktopSddl([logon]));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-desktop-'));
  const script = path.join(dir, 'where.js');
  const out = path.join(dir, 'where.txt');
  const bindings = path.resolve(__dirname, '../../../native-bindings/win32/desktop.js');
  // node.exe under Wine dies on piped stdout: the child writes a file instead.
  fs.writeFileSync(
    script,
    `require('fs').writeFileSync(${JSON.stringify(out)}, require(${JSON.stringify(bindings)}).currentDesktopName());`,
  );
  const onPrivate = await run([process.execPath, script], d.lpDesktop);
  assert.equal(onPrivate.code, 0, onPrivate.stderr);
  assert.equal(fs.readFileSync(out, 'utf8'), d.name);
  const control = await run([process.execPath, script]);
  assert.equal(control.code, 0, control.stderr);
  assert.equal(fs.readFileSync(out, 'utf8'), currentDesktopName());
  assert.notEqual(currentDesktopName(), d.name);
});

test('Wine: a pipe-path command gets a hidden console and still separate stdout and stderr pipes', async () => {
  const r = await run(['cmd.exe', '/d', '/s', '/c', 'echo to-out& echo to-err 1>&2& exit 3']);
  assert.equal(r.code, 3);
  assert.match(r.stdout, /to-out/);
  assert.doesNotMatch(r.stdout, /to-err/);
  assert.match(r.stderr, /to-err/);
  assert.doesNotMatch(r.stderr, /to-out/);
});

test("Wine: Verify's no-pseudoconsole hole launches through the pipes alone (plumbing; the 0xC0000142 it must cause needs real Windows)", async () => {
  const r = await run(['cmd.exe', '/d', '/s', '/c', 'echo to-out& echo to-err 1>&2& exit 4'], undefined, false);
  assert.equal(r.code, 4);
  assert.match(r.stdout, /to-out/);
  assert.match(r.stderr, /to-err/);
});
