/**
 * Records how long activation took: in the log, and as JSON in the file named by AGENT_SANDBOX_ACTIVATION_LOG
 * (read by `npm run bench`). Must never fail activation because the file cannot be written.
 */
import * as fs from 'node:fs';

export interface ActivationRecord {
  activationMs: number;
  at: string;
  vscodeVersion: string;
}

export function writeActivationRecord(record: ActivationRecord, env = process.env): string | undefined {
  const file = env.AGENT_SANDBOX_ACTIVATION_LOG;
  if (!file) return undefined;
  try {
    fs.writeFileSync(file, JSON.stringify(record, null, 2));
    return undefined;
  } catch (e) {
    return `could not write ${file}: ${String(e)}`;
  }
}
