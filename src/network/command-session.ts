/**
 * One command's use of the allowlist proxy: its session on a gateway (its own credential and rules: the plan's
 * allowlist plus this command's grants), the environment pointing its clients at the proxy, and its denials.
 */
import type { Plan } from '../policy/plan';
import type { SandboxProcess } from '../sandbox/types';
import { SandboxError, SandboxErrorCode } from '../errors';
import { domainProblem } from '../policy/domains';
import { proxyEnv, type ProxyEndpoint } from '../policy/proxy-env';
import type { NetworkDenial, ProxyGateway } from './proxy';

export interface CommandNetwork {
  env: Record<string, string>;
  denials(): NetworkDenial[];
  close(): void;
}

/** Refuses an invalid per-command grant with the field, the value and the fix. */
export function checkGrants(grants: string[] | undefined): string[] {
  const out = (grants ?? []).map((g) => g.trim());
  out.forEach((g, i) => {
    const problem = domainProblem(g);
    if (problem) {
      throw new SandboxError(
        SandboxErrorCode.InvalidPolicy,
        `allowDomains[${i}] (got ${JSON.stringify(g)}): ${problem}`,
        'Name a host like "example.org", "*.example.org" or "example.org:443", or a preset like "@npm".',
      );
    }
  });
  return out;
}

export function openCommandNetwork(
  gw: ProxyGateway,
  plan: Plan,
  argv: string[],
  grants: string[] | undefined,
  endpoint: ProxyEndpoint,
  ownsGateway: boolean,
): CommandNetwork {
  const a = plan.allowlist!;
  const session = gw.openSession({
    command: argv.join(' ').slice(0, 200),
    allowedDomains: [...a.allowed, ...checkGrants(grants)],
    deniedDomains: a.denied,
  });
  const seen = gw.unattributed.length;
  return {
    env: proxyEnv(endpoint, session, plan.platform),
    // Connections without a credential on this command's gateway are its own bypass attempts when the gateway
    // serves only this command (a cold run); a broker's are reported by the broker's gateway label instead.
    denials: () => [...session.denials, ...(ownsGateway ? gw.unattributed.slice(seen) : [])],
    close: () => session.close(),
  };
}

/**
 * A command that has its own gateway (a cold run): the gateway closes when the command ends, and the command's
 * denials stay readable afterwards.
 */
export function withOwnGateway(proc: SandboxProcess, gw: ProxyGateway, net: CommandNetwork): SandboxProcess {
  void proc.exited.finally(() => gw.close());
  return {
    stdin: proc.stdin,
    stdout: proc.stdout,
    stderr: proc.stderr,
    exited: proc.exited,
    kill: () => proc.kill(),
    enforcement: proc.enforcement,
    ...(proc.resize ? { resize: (c: number, r: number) => proc.resize!(c, r) } : {}),
    networkDenials: () => net.denials(),
  };
}
