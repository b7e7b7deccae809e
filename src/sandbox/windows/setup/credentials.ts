/**
 * The sandbox accounts' credentials at rest: one JSON file in the caller's state directory holding, per account,
 * its name, SID and password as a per-user DPAPI blob. Written by the developer's own (unelevated) process right
 * after setup returns the passwords. Must never write a password in clear, and never decrypt in another account.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../../../state-file';
import * as z from 'zod';
import type { Network } from '../../../policy';
import { protectForCurrentUser, unprotectForCurrentUser } from '../../../../native-bindings/win32/dpapi';
import { CREDENTIALS_FILE } from './constants';

const Entry = z.strictObject({ name: z.string(), sid: z.string(), blob: z.string() });
const File = z.strictObject({ version: z.literal(1), users: z.partialRecord(z.enum(['offline', 'online']), Entry) });
type File = z.infer<typeof File>;

export interface Credential {
  network: Network;
  name: string;
  sid: string;
  password: string;
}

const entropy = (name: string) => Buffer.from(`agent-sandbox:${name}`, 'utf8');

function readFile(stateDir: string): File {
  try {
    return File.parse(JSON.parse(fs.readFileSync(path.join(stateDir, CREDENTIALS_FILE), 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, users: {} };
    throw e;
  }
}

/** Protects and stores credentials (replacing those of the same accounts). */
export function saveCredentials(stateDir: string, creds: Credential[]): void {
  const file = readFile(stateDir);
  for (const c of creds) {
    const blob = protectForCurrentUser(Buffer.from(c.password, 'utf8'), entropy(c.name), 'Agent Sandbox account');
    file.users[c.network] = { name: c.name, sid: c.sid, blob: blob.toString('base64') };
  }
  writeJsonAtomic(path.join(stateDir, CREDENTIALS_FILE), file, { mode: 0o600 });
}

/** Which accounts have stored credentials (without decrypting). */
export function storedAccounts(stateDir: string): Partial<Record<Network, { name: string; sid: string }>> {
  const out: Partial<Record<Network, { name: string; sid: string }>> = {};
  for (const [k, v] of Object.entries(readFile(stateDir).users))
    if (v) out[k as Network] = { name: v.name, sid: v.sid };
  return out;
}

/** Decrypts one account's password (read fresh from disk on every call). Undefined when none is stored. */
export function loadCredential(stateDir: string, network: Network): Credential | undefined {
  const e = readFile(stateDir).users[network];
  if (!e) return undefined;
  const password = unprotectForCurrentUser(Buffer.from(e.blob, 'base64'), entropy(e.name)).toString('utf8');
  return { network, name: e.name, sid: e.sid, password };
}

export function deleteCredentials(stateDir: string): void {
  fs.rmSync(path.join(stateDir, CREDENTIALS_FILE), { force: true });
}
