/**
 * Elevated uninstall as steps over a SetupMachine: firewall rules, ledger ACEs, each account with its profile, the
 * group and the marker. Every step runs even if an earlier one failed, and `leftovers` re-queries the machine
 * afterwards, so the user sees exactly what is still there. Must never delete an account it did not create: only
 * accounts setup recorded as created (before creating them), with the SID it recorded.
 */
import { GROUP_NAME, SANDBOX_USERS } from './constants';
import type { Marker, SetupMachine } from './machine';
import type { FirewallRule } from './setup-plan';
import type { Step } from './steps';
import { PENDING } from './setup-steps';
import { LEGACY_FIREWALL_RULE_NAMES } from '../../../policy/compile-win32';

export const UninstallStepCode = {
  Firewall: 'uninstall-firewall-failed',
  Acl: 'uninstall-acl-failed',
  Runtime: 'uninstall-runtime-copy-failed',
  User: 'uninstall-user-failed',
  Group: 'uninstall-group-failed',
  Marker: 'uninstall-marker-failed',
} as const;

const FIX = 'Run "agent-sandbox uninstall" again as an administrator; the leftovers list says what remains.';

export function uninstallSteps(m: SetupMachine, marker: Marker | undefined): Step[] {
  const step = (id: string, title: string, errorCode: string, run: Step['run']): Step => ({
    id,
    title,
    errorCode,
    fix: FIX,
    run,
  });
  return [
    step('firewall', 'Removing the firewall rules setup created', UninstallStepCode.Firewall, async () => {
      const names = await ourRuleNames(m);
      let changed = false;
      const problems: string[] = [];
      for (const name of names) {
        try {
          if ((await m.getRules(name)).length) {
            await m.removeRule(name);
            changed = true;
          }
          if (!(await m.getRules(name)).length) await m.forgetCreatedRule(name);
          else problems.push(`the firewall rule "${name}" is still there`);
        } catch (e) {
          problems.push(`${name}: ${(e as Error).message}`);
        }
      }
      if (problems.length) throw new Error(problems.join('; '));
      return { changed };
    }),
    step('acl', 'Reverting the folder permissions setup granted', UninstallStepCode.Acl, async () => {
      // With the group (and the marker) gone, the ledger still names its SID: every elevated-setup record is reverted.
      const sid = marker?.groupSid ?? (await m.lookupGroup(GROUP_NAME)) ?? (await m.createdAccount(GROUP_NAME));
      const { failed, reverted } = await m.revertGrants(sid && sid !== PENDING ? sid : undefined);
      if (failed.length) throw new Error(`could not revert: ${failed.join(', ')}`);
      return { changed: reverted > 0 };
    }),
    step(
      'runtime',
      'Removing the runner copied to %ProgramData%\\AgentSandbox',
      UninstallStepCode.Runtime,
      async () => {
        const recorded = await m.runtimeCopies();
        if (!recorded.length) return { changed: false };
        const failed: typeof recorded = [];
        const messages: string[] = [];
        for (const r of recorded) {
          try {
            await m.removeRuntimeCopy(r.dir);
          } catch (e) {
            failed.push(r);
            messages.push(`${r.dir}: ${(e as Error).message}`);
          }
        }
        // What could not be removed (a runner still running from it) stays recorded, for the next uninstall.
        await m.recordRuntimeCopies(failed);
        if (failed.length) throw new Error(`could not remove: ${messages.join('; ')}`);
        return { changed: true };
      },
    ),
    ...(['offline', 'online'] as const).map((network) => {
      const name = SANDBOX_USERS[network];
      return step(
        `user-${network}`,
        `Removing the account ${name} and its profile`,
        UninstallStepCode.User,
        async () => {
          const info = await m.lookupUser(name);
          const created = await m.createdAccount(name);
          if (created && (await m.isHiddenFromSignIn(name))) await m.unhideFromSignIn(name);
          if (!info) {
            if (created) await m.forgetCreatedAccount(name);
            return { changed: false };
          }
          if (!created)
            return { changed: false, problems: [`${name} was not created by Agent Sandbox setup; left alone`] };
          const recorded = [created, marker?.[network === 'offline' ? 'offlineSid' : 'onlineSid']].filter(
            (s): s is string => Boolean(s) && s !== PENDING,
          );
          const other = recorded.find((s) => s.toUpperCase() !== info.sid.toUpperCase());
          if (other) throw new Error(`${name} has SID ${info.sid}, not the ${other} setup created; left alone`);
          await m.deleteProfile(info.sid);
          await m.deleteUser(name);
          await m.forgetCreatedAccount(name);
          return { changed: true };
        },
      );
    }),
    step('group', `Removing the group ${GROUP_NAME}`, UninstallStepCode.Group, async () => {
      const sid = await m.lookupGroup(GROUP_NAME);
      const created = await m.createdAccount(GROUP_NAME);
      if (!sid) {
        if (created) await m.forgetCreatedAccount(GROUP_NAME);
        return { changed: false };
      }
      if (!created)
        return {
          changed: false,
          problems: [`the group ${GROUP_NAME} was not created by Agent Sandbox setup; left alone`],
        };
      if (created !== PENDING && created.toUpperCase() !== sid.toUpperCase()) {
        throw new Error(`the group ${GROUP_NAME} has SID ${sid}, not the ${created} setup created; left alone`);
      }
      await m.deleteGroup(GROUP_NAME);
      await m.forgetCreatedAccount(GROUP_NAME);
      return { changed: true };
    }),
    step('marker', 'Removing the setup marker', UninstallStepCode.Marker, async () => {
      if (!(await m.readMarker())) return { changed: false };
      await m.deleteMarker();
      return { changed: true };
    }),
  ];
}

/**
 * The rules uninstall removes: those the rule ledger lists and an older setup's (created before the rule ledger
 * existed). A rule of today's name that the ledger does not list is someone else's (setup refuses to take it over),
 * so it is never removed.
 */
async function ourRuleNames(m: SetupMachine): Promise<string[]> {
  return [...new Set([...(await m.createdRules()), ...LEGACY_FIREWALL_RULE_NAMES])];
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
  let names: string[];
  try {
    names = await ourRuleNames(m);
  } catch (e) {
    // Which rules are ours is unknown: those of our names that exist are listed as not checked, never as removed.
    names = [...LEGACY_FIREWALL_RULE_NAMES];
    for (const r of rules) {
      await check(
        `firewall rule "${r.name}" (whether setup created it could not be checked: ${(e as Error).message})`,
        async () => (await m.getRules(r.name)).length > 0,
      );
    }
  }
  for (const name of names) await check(`firewall rule "${name}"`, async () => (await m.getRules(name)).length > 0);
  // Only accounts setup created count: one that was there before is never ours to remove.
  for (const name of Object.values(SANDBOX_USERS)) {
    await check(
      `account ${name}`,
      async () => Boolean(await m.createdAccount(name)) && Boolean(await m.lookupUser(name)),
    );
  }
  await check(
    `group ${GROUP_NAME}`,
    async () => Boolean(await m.createdAccount(GROUP_NAME)) && Boolean(await m.lookupGroup(GROUP_NAME)),
  );
  await check('runner copies (their record is unreadable)', async () => {
    for (const r of await m.runtimeCopies()) await check(`runner copy ${r.dir}`, () => m.runtimeCopyExists(r.dir));
    return false;
  });
  await check('setup marker (HKLM\\SOFTWARE\\AgentSandbox)', async () => Boolean(await m.readMarker()));
  return out;
}
