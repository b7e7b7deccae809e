/**
 * Activation time. The real number comes from the extension host: the e2e run sets AGENT_SANDBOX_ACTIVATION_LOG
 * and the extension writes `{activationMs, at, vscodeVersion}` there; we report the newest record and its file.
 * Separately, and labelled as such, the time for plain Node to `require` dist/extension.js with `vscode` stubbed
 * as an empty object: module load only, never `activate()`, which needs a real extension host.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { summarize, type Summary } from './stats';

export interface RecordedActivation {
  available: boolean;
  /** The file the record came from, relative to the repo when inside it. */
  source?: string;
  activationMs?: number;
  at?: string;
  vscodeVersion?: string;
  reason?: string;
}

export interface LoadOutsideVsCode {
  available: boolean;
  /** Milliseconds to require dist/extension.js in a fresh Node, `vscode` stubbed; activate() not run. */
  requireMs?: Summary;
  reason?: string;
}

/** Where e2e runs leave activation records: the env override, artifacts/, and each .e2e/run/<run>/. */
function candidateFiles(root: string): string[] {
  const out = [path.join(root, 'artifacts', 'activation.json')];
  if (process.env.AGENT_SANDBOX_ACTIVATION_LOG) out.unshift(path.resolve(process.env.AGENT_SANDBOX_ACTIVATION_LOG));
  const runs = path.join(root, '.e2e', 'run');
  if (fs.existsSync(runs)) {
    for (const d of fs.readdirSync(runs)) out.push(path.join(runs, d, 'activation.json'));
  }
  return out.filter((f) => fs.existsSync(f));
}

export function recordedActivation(root: string): RecordedActivation {
  const files = candidateFiles(root).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (!files.length) {
    return {
      available: false,
      reason: 'no activation record found; run `npm run test:e2e` first (it sets AGENT_SANDBOX_ACTIVATION_LOG)',
    };
  }
  const file = files[0];
  const source = path.relative(root, file).startsWith('..') ? file : path.relative(root, file);
  try {
    const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      activationMs?: unknown;
      at?: unknown;
      vscodeVersion?: unknown;
    };
    if (typeof rec.activationMs !== 'number')
      return { available: false, source, reason: `${source} has no numeric activationMs` };
    return {
      available: true,
      source,
      activationMs: rec.activationMs,
      at: String(rec.at),
      vscodeVersion: String(rec.vscodeVersion),
    };
  } catch (e) {
    return { available: false, source, reason: `${source} is not valid JSON: ${(e as Error).message}` };
  }
}

const LOAD_SCRIPT = `
const Module = require('module');
const load = Module._load;
Module._load = function (request, ...rest) { return request === 'vscode' ? {} : load.call(this, request, ...rest); };
const t0 = performance.now();
require(process.argv[1]);
process.stdout.write(String(performance.now() - t0));`;

export function loadOutsideVsCode(root: string, runs: number): LoadOutsideVsCode {
  const file = path.join(root, 'dist', 'extension.js');
  if (!fs.existsSync(file)) return { available: false, reason: 'dist/extension.js is missing' };
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, ['-e', LOAD_SCRIPT, file], { encoding: 'utf8', timeout: 30_000 });
    const ms = Number(r.stdout);
    if (r.status !== 0 || !Number.isFinite(ms)) {
      return {
        available: false,
        reason: `require failed outside VS Code: ${(r.stderr || String(r.error)).trim().split('\n')[0]}`,
      };
    }
    samples.push(ms);
  }
  return { available: true, requireMs: summarize(samples) };
}
