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
import { fileOwnerSid, setProtectedFileDacl } from '../../../../native-bindings/win32/acl';
import { runnerScript } from '../runner-script';
import {
  isRuntimeCopyDir,
  runtimeLayout,
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
  const programData = env.ProgramData ?? env.PROGRAMDATA;
  if (!programData) throw new Error('%ProgramData% is not set');
  return { execPath: process.execPath, bundleDir, packages, home, programData };
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
}

export const win32RuntimeAcl: RuntimeAcl = { owner: fileOwnerSid, protect: setProtectedFileDacl };

/** Creates the root (or checks who owns it) and protects it; then the runtime folder, checked the same way. */
function prepareRoot(layout: RuntimeLayout, groupSid: string, acl: RuntimeAcl): void {
  for (const dir of [layout.root, path.dirname(layout.dir)]) {
    let created = true;
    try {
      fs.mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      created = false;
    }
    if (!created) {
      const owner = acl.owner(dir).toUpperCase();
      if (!TRUSTED_OWNERS.includes(owner)) {
        throw new Error(
          `${dir} already exists and is owned by ${owner}, not Administrators or SYSTEM; it was left alone ` +
            '(delete it as an administrator and run setup again)',
        );
      }
    }
    if (dir === layout.root) acl.protect(dir, runtimeRootSddl(groupSid));
  }
}

export function materialiseRuntime(layout: RuntimeLayout, groupSid: string, acl: RuntimeAcl = win32RuntimeAcl): void {
  prepareRoot(layout, groupSid, acl);
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

/** Removes a recorded copy, then the runtime folder and the root once empty. Refuses any other folder. */
export function removeRuntimeCopy(dir: string, root: string): void {
  if (!isRuntimeCopyDir(dir, root)) throw new Error(`${dir} is not a runtime copy under ${root}; left alone`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(`${dir}.partial`, { recursive: true, force: true });
  for (const d of [path.dirname(dir), root]) {
    try {
      fs.rmdirSync(d);
    } catch {
      return; // not empty (another version's copy), or already gone
    }
  }
}
