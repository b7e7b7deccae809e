/**
 * `agent-sandbox status`: whether the elevated Windows sandbox is set up, its version, the accounts, the firewall
 * rule as read back and whether the firewall policy lets it apply. Reads only; needs no administrator.
 * Exit codes: 0 ready; 1 not ready (the summary says what to do); 2 bad arguments.
 */
import { defaultStateDir } from '../sandbox/host';
import { windowsSandboxStatus, type WindowsSandboxStatus } from '../sandbox/windows/setup';
import { parse } from './args';
import type { CliCommand } from './commands';

export function renderStatus(s: WindowsSandboxStatus): string {
  const lines = [`${s.state}: ${s.summary}`];
  if (s.fix) lines.push(`Fix: ${s.fix}`);
  if (s.state !== 'unsupported') {
    lines.push(`Setup version: ${s.version ?? 'none'}`, `Group AgentSandboxUsers: ${s.group}`);
    for (const u of s.users) lines.push(`Account ${u.name}: ${u.exists}${u.sid ? ` (${u.sid})` : ''}; your stored password: ${u.credentials ? 'yes' : 'no'}`);
    for (const r of s.rules) lines.push(`Firewall rule "${r.name}": exists ${r.exists}, as configured ${r.matches}`);
    lines.push(`Firewall policy: ${s.firewallPolicy}`);
  }
  for (const n of s.notes) lines.push(`Note: ${n}`);
  return lines.join('\n');
}

export const statusCommand: CliCommand = {
  usage: `Usage: agent-sandbox status [--json]

Shows whether the one-time Windows setup is done and current, which sandbox accounts and firewall rules exist, and
whether Group Policy lets the firewall rule apply. Anything that cannot be read is shown as "unknown".

  --json                Print the status as JSON.

Exit codes: 0 ready; 1 not ready; 2 bad arguments.`,
  async main(argv) {
    const { values } = parse(argv, { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }, false);
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const s = await windowsSandboxStatus({ stateDir: defaultStateDir() });
    console.log(values.json ? JSON.stringify(s, null, 2) : renderStatus(s));
    return s.state === 'ready' ? 0 : 1;
  },
};
