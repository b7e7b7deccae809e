/**
 * Package sizes: the esbuild bundles in dist/, and each platform's .vsix as written by `scripts/package.mjs`
 * (artifacts/vsix/sizes.json). Packaging that fails or is skipped is reported as not available with the reason;
 * a sizes.json older than this run is never passed off as current.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface BundleSize {
  file: string;
  bytes: number;
}

export interface VsixSizes {
  available: boolean;
  /** Why there are no sizes. */
  reason?: string;
  packageMs?: number;
  targets: { target: string; file: string; bytes: number }[];
}

const PACKAGE_TIMEOUT_MS = 120_000;

export function bundleSizes(root: string): BundleSize[] {
  const dist = path.join(root, 'dist');
  if (!fs.existsSync(dist)) return [];
  return fs
    .readdirSync(dist)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => ({ file: `dist/${f}`, bytes: fs.statSync(path.join(dist, f)).size }));
}

export function vsixSizes(root: string, skip: boolean): VsixSizes {
  const script = path.join(root, 'scripts', 'package.mjs');
  if (skip) return { available: false, reason: 'skipped (--no-package)', targets: [] };
  if (!fs.existsSync(script)) return { available: false, reason: 'scripts/package.mjs is missing', targets: [] };
  const sizesFile = path.join(root, 'artifacts', 'vsix', 'sizes.json');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [script], { cwd: root, encoding: 'utf8', timeout: PACKAGE_TIMEOUT_MS });
  const packageMs = Date.now() - t0;
  if (r.status !== 0) {
    const why = r.error ? r.error.message : `${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`;
    return {
      available: false,
      reason: `packaging failed (exit ${r.status ?? r.signal}): ${why}`,
      packageMs,
      targets: [],
    };
  }
  if (!fs.existsSync(sizesFile) || fs.statSync(sizesFile).mtimeMs < t0) {
    return { available: false, reason: 'packaging did not write artifacts/vsix/sizes.json', packageMs, targets: [] };
  }
  return { available: true, packageMs, targets: JSON.parse(fs.readFileSync(sizesFile, 'utf8')) };
}
