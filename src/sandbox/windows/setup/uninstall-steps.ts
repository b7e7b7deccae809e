/**
 * Elevated uninstall as steps over a SetupMachine: firewall rules, ledger ACEs, each account with its profile, the
 * group and the marker. Every step runs even if an earlier one failed, and `leftovers` re-queries the machine
 * afterwards, so the user sees exactly what is still there. Must never delete an account it did not create: only
 * the two fixed names, and only accounts whose SID the marker recorded when a marker exists.
 */
import { GROUP_NAME, SANDBOX_USERS } from './constants';
import type { Marker, SetupMachine } from './machine';
import type { FirewallRule } from './setup-plan';
import type { Step } from './steps';

export const UninstallStepCode = {
  Firewall: 'uninstall-firewall-failed',
  Acl: 'uninstall-acl-failed',
  User: 'uninstall-user-failed',
  Group: 'uninstall-group-failed',
  Marker: 'uninstall-marker-failed',
} as const;

const FIX = 'Run "agent-sandbox uninstall" again as an administrator; the leftovers list says what remains.';

export function uninstallSteps(rules: FirewallRule[], m: SetupMachine, marker: Marker | undefined): Step[] {
  const step = (id: string, title: string, errorCode: string, run: Step['run']): Step =>
    ({ id, title, errorCode, fix: FIX, run });
  return [
    ...rules.map((r) => step(`firewall-${r.user}`, `Removing the firewall rule "${r.name}"`, UninstallStepCode.Firewall,
      async () => {
        if (!(await m.getRules(r.name)).length) return { changed: false };
        await m.removeRule(r.name);
        return { changed: true };
      })),
    step('acl', 'Reverting the folder permissions setup granted', UninstallStepCode.Acl, async () => {
      const sid = marker?.groupSid ?? (await m.lookupGroup(GROUP_NAME));
      if (!sid) return { changed: false };
      const failed = await m.revertGrants(sid);
      if (failed.length) throw new Error(`could not revert: ${failed.join(', ')}`);
      return { changed: true };
    }),
    ...(['offline', 'online'] as const).map((network) => {
      const name = SANDBOX_USERS[network];
      return step(`user-${network}`, `Removing the account ${name} and its profile`, UninstallStepCode.User, async () => {
        const info = await m.lookupUser(name);
        if (await m.isHiddenFromSignIn(name)) await m.unhideFromSignIn(name);
        if (!info) return { changed: false };
        const recorded = marker?.[network === 'offline' ? 'offlineSid' : 'onlineSid'];
        if (recorded && recorded !== info.sid) {
          throw new Error(`${name} has SID ${info.sid}, not the ${recorded} setup created; left alone`);
        }
        await m.deleteProfile(info.sid);
        await m.deleteUser(name);
        return { changed: true };
      });
    }),
    step('group', `Removing the group ${GROUP_NAME}`, UninstallStepCode.Group, async () => {
      if (!(await m.lookupGroup(GROUP_NAME))) return { changed: false };
      await m.deleteGroup(GROUP_NAME);
      return { changed: true };
    }),
    step('marker', 'Removing the setup marker', UninstallStepCode.Marker, async () => {
      if (!(await m.readMarker())) return { changed: false };
      await m.deleteMarker();
      return { changed: true };
    }),
  ];
}

/** Re-queries the machine after uninstall: everything still present (or that could not be checked), in words. */
export async function leftovers(rules: FirewallRule[], m: SetupMachine): Promise<string[]> {
  const out: string[] = [];
  const check = async (what: string, present: () => Promise<boolean>) => {
    try {
      if (await present()) out.push(what);
    } catch (e) {
      out.push(`${what} (could not be checked: ${(e as Error).message})`);
    }
  };
  for (const r of rules) await check(`firewall rule "${r.name}"`, async () => (await m.getRules(r.name)).length > 0);
  for (const name of Object.values(SANDBOX_USERS)) await check(`account ${name}`, async () => Boolean(await m.lookupUser(name)));
  await check(`group ${GROUP_NAME}`, async () => Boolean(await m.lookupGroup(GROUP_NAME)));
  await check('setup marker (HKLM\\SOFTWARE\\AgentSandbox)', async () => Boolean(await m.readMarker()));
  return out;
}
