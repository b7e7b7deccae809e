// Test helper (not a test): a fresh workspace, state dir, compiled win32 plan and Windows backend.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createWindowsBackend } from '../../../src/sandbox/windows';
import { compilePlan } from '../../../src/policy';
import { hostContext } from '../../../src/sandbox/host';
import { openProcessToken, tokenUserSid } from '../../../native-bindings/win32/token';

export function sandboxFixture(prefix: string) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `as-${prefix}-`));
  const ws = path.join(base, 'ws');
  fs.mkdirSync(ws);
  const stateDir = path.join(base, 'state');
  const plan = compilePlan({ workspaceRoots: [ws] }, hostContext({ platform: 'win32', stateDir }));
  return { base, ws, stateDir, plan, backend: createWindowsBackend({ stateDir }) };
}

/** The fixture's policy compiled for elevated mode, with the group SID a setup marker would give. */
export function elevatedFixturePlan(fx: { ws: string; stateDir: string }, groupSid: string, input: object = {}) {
  return compilePlan(
    { workspaceRoots: [fx.ws], ...input },
    hostContext({ platform: 'win32', stateDir: fx.stateDir, windowsMode: 'elevated', groupSid }),
  );
}

/** The SID of the Wine user running the tests. */
export function ownSid(): string {
  const t = openProcessToken();
  try {
    return tokenUserSid(t);
  } finally {
    t.close();
  }
}
