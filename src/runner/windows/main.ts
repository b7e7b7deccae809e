/**
 * The Windows runner entry (dist/runner.js on win32). Two roles:
 *   --broker --requests PIPE --events PIPE   a long-lived broker running as a sandbox account;
 *   --elevated PAYLOAD                        the one-time setup or uninstall, started elevated through UAC.
 * Must never do anything else with its arguments, and never run a command without a restricted token.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { connectClient } from '../../../native-bindings/win32/pipe';
import { serveBroker } from './broker';
import { launchRestricted, runnerUiDecision } from './launcher';

export async function windowsRunnerMain(argv: string[]): Promise<number> {
  if (argv[0] === '--broker' && argv[1] === '--requests' && argv[3] === '--events' && argv.length === 5) {
    fillProfileEnv();
    const requests = await connectClient(argv[2]);
    const events = await connectClient(argv[4]);
    await serveBroker(requests, events, launchRestricted, runnerUiDecision().gaps);
    requests.destroy();
    return 0;
  }
  if (argv[0] === '--elevated' && argv.length === 2) {
    const { elevatedMain } = await import('./elevated-main');
    return elevatedMain(argv[1]);
  }
  return 2;
}

/**
 * The runner is started with a minimal environment (the caller's profile paths would be unreadable to it), so it
 * fills in its own account's profile variables for the commands it starts.
 */
function fillProfileEnv(): void {
  const home = os.homedir();
  process.env.USERPROFILE = home;
  process.env.APPDATA = path.win32.join(home, 'AppData', 'Roaming');
  process.env.LOCALAPPDATA = path.win32.join(home, 'AppData', 'Local');
  process.env.USERNAME = os.userInfo().username;
  process.env.HOMEDRIVE = path.win32.parse(home).root.replace(/\\$/, '');
  process.env.HOMEPATH = home.slice(process.env.HOMEDRIVE.length);
  // An explicit environment block has no TEMP/TMP: without them os.tmpdir() is the profile root.
  process.env.TEMP = process.env.TMP = path.win32.join(process.env.LOCALAPPDATA, 'Temp');
}

/** Runs the Windows runner on this process's arguments and sets its exit code. */
export function runWindowsRunner(): void {
  windowsRunnerMain(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`agent-sandbox runner: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 125;
    },
  );
}
