/**
 * `agent-sandbox verify`: the self-test. Runs the probe inside the sandbox and prints what held. Exit codes:
 * 0 every expectation held; 1 at least one did not; 125 the sandbox could not be applied (nothing ran).
 */
import { defaultStateDir, disposeBackends, hostPlatform } from '../sandbox';
import { renderReportText, runVerification } from '../verify';
import { parse, platformFlag, policyFlags } from './args';
import type { CliCommand } from './commands';

export const verifyCommand: CliCommand = {
  usage: `Usage: agent-sandbox verify [--json] [--network offline|allowlist|online] [--workspace DIR]

Runs a probe inside the sandbox that tries what the sandbox must stop: writing outside the workspace, into
protected paths and through links, reading hidden credentials, connecting out, leaking secret variables, and
leaving processes running. Prints expected and observed results for every check.

  --network MODE        offline (default), allowlist or online; online expects the network checks to succeed;
                        allowlist adds the proxy checks (an allowed name through it, a refused and logged one, a
                        name resolving to loopback, no credential) with its own one-off names.
  --workspace DIR       Test in this folder (files the probe makes are removed). Default: a fresh temp folder.
  --json                Print the report as JSON.

Exit codes: 0 every check passed; 1 a check failed; 125 the sandbox could not be applied; 2 bad arguments.`,
  async main(argv) {
    const { values } = parse(
      argv,
      {
        json: { type: 'boolean', default: false },
        network: { type: 'string' },
        workspace: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      false,
    );
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const network = policyFlags(values).network ?? 'offline';
    try {
      const report = await runVerification({
        platform: platformFlag({}, hostPlatform()),
        stateDir: defaultStateDir(),
        policy: {},
        workspace: values.workspace,
        network: network === 'online' || network === 'allowlist' ? network : 'offline',
      });
      process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReportText(report));
      return report.ok ? 0 : 1;
    } finally {
      await disposeBackends();
    }
  },
};
