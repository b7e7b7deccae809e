/**
 * Renders a plan for people: what is writable, protected, hidden, scrubbed, and what the backend will do. Pure, so
 * the CLI's `plan` and the extension's Show Effective Policy print the same text.
 */
import type { AclOperation, LinuxPlan, Plan, PlanSid } from './plan';
import { SANDBOX_GROUP, SANDBOX_USERS } from './compile-win32';
import { isWithin } from './paths';

export function renderPlan(plan: Plan): string {
  const lines: string[] = [];
  const list = (title: string, items: string[]) => {
    lines.push(`${title}:`);
    lines.push(...(items.length ? items.map((i) => `  ${i}`) : ['  (none)']));
  };
  lines.push(`Agent Sandbox plan for ${plan.platform} — mode ${plan.mode}, network ${plan.network}`);
  list('Workspace folders', plan.workspaceRoots);
  list('Writable', [...plan.writableRoots, `${plan.tempDir} (private temp)`]);
  list(
    'Read-only inside writable folders',
    plan.protectedPaths.map((p) => `${p.path}  (${p.reason ?? p.glob})`),
  );
  if (plan.unprotected.length) list('Run on the host but NOT protected (see the setting named)', plan.unprotected);
  list('Hidden (unreadable)', plan.denyRead);
  list('Environment removed', plan.env.remove);
  list(
    'Environment set',
    Object.entries(plan.env.set).map(([k, v]) => `${k}=${v}`),
  );
  if (plan.allowlist) {
    const a = plan.allowlist;
    list('Network allowlist (empty allows nothing)', a.allowed);
    list('Network denied (wins over allowed)', a.denied);
    if (a.presets.length)
      list(
        'Presets',
        a.presets.map((p) => `${p.name}: ${p.hosts.join(', ')}`),
      );
    lines.push(
      `Proxy as the sandbox sees it: ${a.endpoint.http} (HTTP, CONNECT) and ${a.endpoint.socks} (SOCKS5); ` +
        'each command gets its own credential in these URLs',
    );
    lines.push(`Enforced by: ${a.enforcement}`);
  }
  switch (plan.platform) {
    case 'linux':
      list(
        'Placeholders created for missing protected paths',
        plan.placeholders.map((p) => `${p.path} (${p.kind})`),
      );
      list('Host sockets hidden (/run whole, listening sockets outside the roots)', plan.hiddenSockets);
      list(
        'Bound back into the hidden /run',
        plan.runBindBacks.map((b) => `${b.path}  (${b.reason})`),
      );
      lines.push(
        `Landlock: writes only under ${plan.landlock.writablePaths.join(', ')}` +
          (plan.landlock.requiredAbi
            ? `; refused below ABI ${plan.landlock.requiredAbi} (requireFullLandlock)`
            : '; a kernel with a lower ABI runs with what is lost reported by `agent-sandbox status`'),
      );
      {
        const rules = linuxReadRules(plan);
        list(
          'Landlock read rules: entries created after start are unreadable directly in (hiding by default)',
          rules.chains,
        );
        if (rules.inWritable.length)
          list(
            'Hidden by mounts only, inside writable folders (no read rule: the write rule grants reads there, so ' +
              'one created while a command runs is readable until the guard stops it)',
            rules.inWritable,
          );
      }
      lines.push(
        `seccomp: deny ${[...plan.seccomp.denySyscalls, ...plan.seccomp.denyIoctls.map((i) => `ioctl(${i})`)].join(', ')}` +
          (plan.seccomp.allowSocketFamilies ? `; sockets only ${plan.seccomp.allowSocketFamilies.join(', ')}` : ''),
      );
      lines.push(`Limits per sandbox: ${limitsLine(plan.limits)}`);
      lines.push(`bwrap ${plan.bwrapArgs.map(shellQuote).join(' ')}`);
      break;
    case 'win32':
      lines.push(`Windows mode: ${plan.windowsMode}; network enforcement: ${plan.networkEnforcement}`);
      lines.push(
        `Token: ${plan.token.flags.names.join(' | ')}; restricting SIDs: ${plan.token.restrictingSids.map(sidName).join(', ')}`,
      );
      list('ACL operations', plan.acl.map(aclLine));
      if (plan.accounts) {
        list('Sandbox accounts', [
          `group ${sidName(plan.accounts.group)}`,
          ...plan.accounts.users.map((u) => `${u.name}: runs ${u.network} commands`),
        ]);
      }
      list(
        'Firewall rules',
        plan.firewall.map(
          (f) =>
            `${f.name}: ${f.direction} ${f.action} for ${sidName(f.user)}, ` +
            `${f.protocol ?? 'any protocol'} to ${f.remoteAddresses}${f.remotePorts ? ` ports ${f.remotePorts}` : ''}`,
        ),
      );
      break;
  }
  if (plan.warnings.length) list('Warnings', plan.warnings);
  return lines.join('\n');
}

/**
 * Which credential paths Landlock's read rules cover, as the runner builds them (native-bindings/linux/read-rules,
 * which also resolves symbolic links): those outside every writable path, by denying reads of new entries in each
 * folder leading to them (`chains`, `/` included); those inside a writable path (`inWritable`) get no rule. Pure.
 */
export function linuxReadRules(plan: Pick<LinuxPlan, 'denyRead' | 'landlock'>): {
  chains: string[];
  inWritable: string[];
} {
  const writable = plan.landlock.writablePaths;
  const inWritable = plan.denyRead.filter((p) => writable.some((w) => isWithin('linux', w, p)));
  const ruled = plan.denyRead.filter((p) => !inWritable.includes(p) && p !== '/');
  const chains = new Set<string>();
  for (const p of ruled.filter((p) => !ruled.some((o) => o !== p && isWithin('linux', o, p))))
    for (let d = parentOf(p); ; d = parentOf(d)) {
      chains.add(d);
      if (d === '/') break;
    }
  return { chains: [...chains].sort(), inWritable };
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** The plan's resource limits and how they apply, in words. */
function limitsLine(l: { pids: number; memoryBytes: number }): string {
  const pids = l.pids ? `${l.pids} processes and threads` : 'no process limit';
  const mem = l.memoryBytes ? `${Math.round(l.memoryBytes / 1048576)} MiB of memory` : 'no memory limit';
  return (
    `${pids}, ${mem} (a cgroup where one can be made; otherwise the memory limit applies per process through ` +
    'RLIMIT_DATA and there is no process limit)'
  );
}

function aclLine(a: AclOperation): string {
  return (
    `${a.action.toUpperCase()} ${sidName(a.sid)} ${a.mask.names.join('|')} (0x${a.mask.value.toString(16)}) ` +
    `inherit ${a.inheritance.names.join('|') || 'none'} on ${a.path}  [${a.reason}]`
  );
}

export function sidName(s: PlanSid): string {
  switch (s.kind) {
    case 'literal':
      return `${s.name} (${s.sid})`;
    case 'capability':
      return `capability SID for ${s.root}${s.sid ? ` (${s.sid})` : ''}`;
    case 'logon':
      return 'logon SID';
    case 'current-user':
      return 'current user';
    case 'sandbox-group':
      return SANDBOX_GROUP;
    case 'sandbox-user':
      return SANDBOX_USERS[s.network];
  }
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
