/**
 * Renders a plan for people: what is writable, protected, hidden, scrubbed, and what the backend will do. Pure, so
 * the CLI's `plan` and the extension's Show Effective Policy print the same text.
 */
import type { AclOperation, Plan, PlanSid } from './plan';
import { SANDBOX_GROUP, SANDBOX_USERS } from './compile-win32';

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
      lines.push(
        `seccomp: deny ${[...plan.seccomp.denySyscalls, ...plan.seccomp.denyIoctls.map((i) => `ioctl(${i})`)].join(', ')}` +
          (plan.seccomp.allowSocketFamilies ? `; sockets only ${plan.seccomp.allowSocketFamilies.join(', ')}` : ''),
      );
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
