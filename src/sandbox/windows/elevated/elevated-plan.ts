/**
 * Turns a win32 plan into the elevated form the sandbox accounts need: the sandbox group's SID filled in, and, for
 * a plan compiled for unelevated mode, the group's write grants on the writable roots and the private temp (the
 * same grants compile-win32 emits in elevated mode). Pure. Must never widen a plan: it only adds grants for the
 * sandbox group on folders the plan already makes writable.
 */
import type { AclOperation, PlanSid, Win32Plan } from '../../../policy/plan';
import { INHERIT_ALL, WRITABLE_ROOT_MASK } from '../../../policy/compile-win32';
import { GROUP_NAME } from '../setup/constants';

export function toElevatedPlan(plan: Win32Plan, groupSid: string): Win32Plan {
  const group: PlanSid = { kind: 'literal', sid: groupSid, name: GROUP_NAME };
  const fill = (s: PlanSid): PlanSid => (s.kind === 'sandbox-group' ? group : s);
  const acl: AclOperation[] = plan.acl.map((op) => ({ ...op, sid: fill(op.sid) }));
  if (plan.windowsMode === 'unelevated') {
    const grant = (path: string, reason: AclOperation['reason'], create?: 'dir'): AclOperation =>
      ({ path, sid: group, action: 'grant', mask: WRITABLE_ROOT_MASK, inheritance: INHERIT_ALL, reason, ...(create ? { createIfMissing: create } : {}) });
    acl.push(...plan.writableRoots.map((r) => grant(r, 'writable-root')), grant(plan.tempDir, 'temp-dir', 'dir'));
  }
  return {
    ...plan,
    windowsMode: 'elevated',
    acl,
    networkEnforcement: plan.network === 'offline' ? 'firewall' : 'none',
    token: { ...plan.token, restrictingSids: plan.token.restrictingSids.map(fill),
      defaultDacl: plan.token.defaultDacl.map((d) => ({ ...d, sid: fill(d.sid) })) },
  };
}
