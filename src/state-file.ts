/**
 * Atomic state files (temp file + rename), the one writer both platforms' ledgers, SID maps, credentials and
 * placeholder records use, so a crash never leaves a half-written file: a reader sees the old content or the new.
 * Must never write in place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let counter = 0;

/** Writes `data` to `file` through a temp file beside it (unique per process and call), then renames it over. */
export function writeFileAtomic(
  file: string,
  data: string | Buffer,
  opts: { mode?: number; dirMode?: number } = {},
): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, ...(opts.dirMode !== undefined ? { mode: opts.dirMode } : {}) });
  const tmp = `${file}.${process.pid}.${++counter}.tmp`;
  try {
    fs.writeFileSync(tmp, data, opts.mode !== undefined ? { mode: opts.mode } : {});
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** `data` as JSON (indented unless `compact`), written atomically. */
export function writeJsonAtomic(
  file: string,
  data: unknown,
  opts: { mode?: number; dirMode?: number; compact?: boolean } = {},
): void {
  writeFileAtomic(file, opts.compact ? JSON.stringify(data) : JSON.stringify(data, null, 2), opts);
}

/** Parsed JSON, or `fallback` when the file does not exist. Other errors (corrupt file) propagate. */
export function readJson<T>(file: string, fallback: T): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw e;
  }
}
