/**
 * Makes, checks and removes the elevated runner's runtime copy (runtime-layout.ts decides what goes where).
 * Materialising runs elevated: the root is created with a protected DACL before anything is copied into it, so
 * every copied file inherits it; a root or runtime folder someone else owns is refused (they could swap the files
 * the runner loads). A copy is built under a staging name and renamed into place with its manifest written last,
 * so a half-finished copy never passes for a complete one. Must never delete anything but a `runtime\<hash>` folder.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  fileDaclSddl,
  fileOwnerSid,
  restoreFileDacl,
  setProtectedFileDacl,
} from '../../../../native-bindings/win32/acl';
import { runnerScript } from '../runner-script';
import {
  isRuntimeCopyDir,
  runtimeLayout,
  runtimeRoot,
  runtimeRootSddl,
  PROBE_FILE,
  RUNNER_FILES,
  RUNTIME_MANIFEST,
  TRUSTED_OWNERS,
  type RuntimeLayout,
  type RuntimeRecord,
  type RuntimeSource,
  type SourceReader,
} from './runtime-layout';

export const fileReader: SourceReader = {
  files: (dir) =>
    fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name))),
  digest: (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex'),
  stamp: (file) => {
    const st = fs.statSync(file);
    return `${st.size}:${Math.trunc(st.mtimeMs)}`;
  },
};

/** This installation as a runtime source: the build's dist/ and koffi (with its prebuild) beside it. */
export function machineRuntimeSource(home: string, env: NodeJS.ProcessEnv = process.env): RuntimeSource {
  const script = runnerScript();
  const bundleDir = path.dirname(script);
  const missing = [...RUNNER_FILES, PROBE_FILE].map((f) => path.join(bundleDir, f)).filter((f) => !fs.existsSync(f));
  if (missing.length)
    throw new Error(`the runner can only be copied from a build (dist/); missing ${missing.join(', ')}`);
  const modules = path.join(path.dirname(bundleDir), 'node_modules');
  const packages = ['koffi', `@koromix/koffi-${process.platform}-${process.arch}`].map((name) => ({
    name,
    dir: path.join(modules, ...name.split('/')),
  }));
  const absent = packages.filter((p) => !fs.existsSync(p.dir));
  if (absent.length)
    throw new Error(`koffi is not installed beside the runner: ${absent.map((p) => p.dir).join(', ')}`);
  return { execPath: process.execPath, bundleDir, packages, home, programData: programDataDir(env) };
}

function programDataDir(env: NodeJS.ProcessEnv): string {
  const programData = env.ProgramData ?? env.PROGRAMDATA;
  if (!programData) throw new Error('%ProgramData% is not set');
  return programData;
}

/** Where every runtime copy lives: from %ProgramData%, the known location, never from a recorded path. */
export function machineRuntimeRoot(env: NodeJS.ProcessEnv = process.env): string {
  return runtimeRoot(programDataDir(env));
}

export function machineRuntimeLayout(home: string): RuntimeLayout {
  return runtimeLayout(machineRuntimeSource(home), fileReader);
}

/** Whether the copy is finished (its manifest names this hash) and what the logon starts is there. */
export function runtimeCopyComplete(layout: RuntimeLayout): boolean {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(layout.dir, RUNTIME_MANIFEST), 'utf8')) as { hash?: string };
    return (
      manifest.hash === layout.hash &&
      fs.existsSync(layout.script) &&
      fs.existsSync(layout.probe) &&
      fs.existsSync(layout.application)
    );
  } catch {
    return false;
  }
}

export interface RuntimeAcl {
  owner(p: string): string;
  protect(p: string, sddl: string): void;
  /** The DACL as SDDL (with its protection flag), to record before `protect` replaces it. */
  read(p: string): string;
  /** Puts back a DACL `read` returned. */
  restore(p: string, sddl: string): void;
}

export const win32RuntimeAcl: RuntimeAcl = {
  owner: fileOwnerSid,
  protect: setProtectedFileDacl,
  read: fileDaclSddl,
  restore: restoreFileDacl,
};

/**
 * What setup did to the runtime root, recorded before doing it: the folders it created (the root and its `runtime`
 * folder, either may predate setup), and the root's DACL before setup protected it, when the root predated setup.
 */
export interface RuntimeRootRecord {
  root: string;
  created: string[];
  daclBefore?: string;
}

/** Where that record lives (the machine's registry; a variable in tests). */
export interface RuntimeRootLedger {
  read(): RuntimeRootRecord | undefined;
  /** Replaces the record; undefined removes it. */
  write(r: RuntimeRootRecord | undefined): void;
}

const sameDir = (a: string, b: string) => path.resolve(a).toLowerCase() === path.resolve(b).toLowerCase();

/**
 * Creates the root (or checks who owns it) and protects it, then the runtime folder, checked the same way. Each
 * folder is recorded before it is created, and a root that predated setup has its DACL recorded before it is
 * replaced, so uninstall can put back exactly what was there.
 */
function prepareRoot(layout: RuntimeLayout, groupSid: string, acl: RuntimeAcl, ledger: RuntimeRootLedger): void {
  const rec = ledger.read() ?? { root: layout.root, created: [] };
  if (!sameDir(rec.root, layout.root))
    throw new Error(`the runner copies are recorded under ${rec.root}, not ${layout.root}; run uninstall first`);
  const ours = (dir: string) => rec.created.some((c) => sameDir(c, dir));
  for (const dir of [layout.root, path.dirname(layout.dir)]) {
    if (!fs.existsSync(dir)) {
      if (!ours(dir)) rec.created.push(dir);
      ledger.write(rec);
      fs.mkdirSync(dir, { recursive: true });
    } else {
      const owner = acl.owner(dir).toUpperCase();
      if (!TRUSTED_OWNERS.includes(owner)) {
        throw new Error(
          `${dir} already exists and is owned by ${owner}, not Administrators or SYSTEM; it was left alone ` +
            '(delete it as an administrator and run setup again)',
        );
      }
    }
    if (dir !== layout.root) continue;
    if (!ours(dir) && rec.daclBefore === undefined) {
      rec.daclBefore = acl.read(dir);
      ledger.write(rec);
    }
    acl.protect(dir, runtimeRootSddl(groupSid));
  }
}

/**
 * Once no copy is left: deletes the runtime folder and the root if setup created them (and they are empty), puts
 * back the DACL of a root that predated setup, and forgets the record. Without a record (a setup from before it
 * existed), both folders go while empty, as that setup always created them.
 */
export function releaseRuntimeRoot(root: string, acl: RuntimeAcl, ledger: RuntimeRootLedger): void {
  const rec = ledger.read();
  const runtimeDir = path.join(root, 'runtime');
  if (fs.existsSync(runtimeDir) && fs.readdirSync(runtimeDir).length) return; // another version's copy is left
  for (const dir of [runtimeDir, root]) {
    if (rec && !rec.created.some((c) => sameDir(c, dir))) continue;
    try {
      fs.rmdirSync(dir);
    } catch {
      // not empty (something else was put there), or already gone
    }
  }
  if (rec?.daclBefore !== undefined && fs.existsSync(root)) acl.restore(root, rec.daclBefore);
  if (rec) ledger.write(undefined);
}

export function materialiseRuntime(
  layout: RuntimeLayout,
  groupSid: string,
  acl: RuntimeAcl,
  ledger: RuntimeRootLedger,
): void {
  prepareRoot(layout, groupSid, acl, ledger);
  const staging = `${layout.dir}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  for (const c of layout.copies) fs.cpSync(c.from, path.join(staging, c.to), { recursive: true });
  fs.writeFileSync(
    path.join(staging, RUNTIME_MANIFEST),
    JSON.stringify({ hash: layout.hash, copies: layout.copies.map((c) => c.to) }),
  );
  fs.rmSync(layout.dir, { recursive: true, force: true });
  fs.renameSync(staging, layout.dir);
}

/** The record as stored (JSON); anything unreadable is an error, not an empty list (copies would be forgotten). */
export function parseRuntimeRecords(value: string | number | undefined): RuntimeRecord[] {
  if (value === undefined) return [];
  const list = JSON.parse(String(value)) as unknown;
  if (!Array.isArray(list) || !list.every((r) => typeof r?.dir === 'string' && typeof r?.runtimeOf === 'string')) {
    throw new Error('the record of runner copies (HKLM\\SOFTWARE\\AgentSandboxRuntime) is not readable');
  }
  return list as RuntimeRecord[];
}

/**
 * Removes a recorded copy; once it was the last, releases the root (`releaseRuntimeRoot`). Refuses any other
 * folder: the path as recorded, and where it really leads (a junction, a short name), must both be
 * `<root>\runtime\<hash>`.
 */
export function removeRuntimeCopy(dir: string, root: string, acl: RuntimeAcl, ledger: RuntimeRootLedger): void {
  if (!isRuntimeCopyDir(dir, root)) throw new Error(`${dir} is not a runtime copy under ${root}; left alone`);
  const real = (p: string) => fs.realpathSync.native(p);
  if (fs.existsSync(dir) && !isRuntimeCopyDir(real(dir), real(root)))
    throw new Error(`${dir} leads to ${real(dir)}, not a runtime copy under ${root}; left alone`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(`${dir}.partial`, { recursive: true, force: true });
  releaseRuntimeRoot(root, acl, ledger);
}
