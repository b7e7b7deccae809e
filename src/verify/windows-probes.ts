/**
 * The Windows probes Verify must run, and what each must show in each mode (pure, unit-tested): the review's §5
 * checklist. Each probe runs through the tool's path (pipes) and the terminal's (ConPTY). `expect` is what a
 * working sandbox shows; `hole` names the deliberate weakening that must turn a pass into a failure, where one can
 * be made. Must never expect "blocked" for something the mode does not claim to block (it would report a false
 * failure), nor "works" for a thing only real Windows can show when it is not real Windows ("not-checked").
 */
import type { UiIsolation } from '../sandbox/windows/ui-isolation';
import type { FirewallVerdict } from '../sandbox/windows/firewall-state';

export type WindowsProbeId =
  | 'console-cmd'
  | 'console-powershell'
  | 'console-node'
  | 'node-grandchild-pipes'
  | 'realpath-workspace'
  | 'input-injection'
  | 'clipboard-read'
  | 'dns-lookup'
  | 'unc-path'
  | 'git-status'
  | 'https';

export interface WindowsProbe {
  id: WindowsProbeId;
  /** The command, as run in the sandbox's workspace ({dns}, {unc} are filled in by the verifier). */
  argv: string[];
  expect: 'works' | 'blocked' | 'not-checked';
  why: string;
  /** The weakening that must make this probe fail, when one can be made here. */
  hole?: string;
}

export interface WindowsVerifyFacts {
  mode: 'unelevated' | 'elevated';
  network: 'offline' | 'online';
  wine: boolean;
  ui: UiIsolation;
  firewall?: FirewallVerdict;
}

const PS = ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command'];

export function windowsProbes(f: WindowsVerifyFacts): WindowsProbe[] {
  const real = (p: WindowsProbe): WindowsProbe => (f.wine ? { ...p, expect: 'not-checked', why: `Wine: ${p.why}` } : p);
  const offline = f.network === 'offline';
  const blocks = offline && f.mode === 'elevated' && f.firewall?.enforced === true;
  const probes: WindowsProbe[] = [
    {
      id: 'console-cmd',
      argv: ['cmd.exe', '/d', '/s', '/c', 'echo ok'],
      expect: 'works',
      why: 'a console program on the pipe path needs the console the caller made (else exit 0xC0000142)',
      hole: 'no pseudoconsole',
    },
    { id: 'console-powershell', argv: [...PS, '1'], expect: 'works', why: 'PowerShell on the pipe path' },
    {
      id: 'console-node',
      argv: ['node.exe', '-e', '0'],
      expect: 'works',
      why: 'a console-subsystem node.exe (Code.exe is GUI)',
    },
    {
      id: 'node-grandchild-pipes',
      argv: [
        'node.exe',
        '-e',
        "const r=require('child_process').spawnSync(process.env.ComSpec,['/c','echo','x']);process.exit(r.error?1:r.status)",
      ],
      expect: f.mode === 'elevated' ? 'works' : 'not-checked',
      why:
        f.mode === 'elevated'
          ? "libuv named pipes need the account's own SID among the restricting SIDs"
          : "unelevated: default-security named pipes grant only the developer's SID, which the write-restricted check cannot use (known limit)",
      ...(f.mode === 'elevated' ? { hole: 'own SID dropped from the restricting SIDs' } : {}),
    },
    {
      id: 'realpath-workspace',
      argv: ['node.exe', '-e', "require('fs').realpathSync(process.cwd())"],
      expect: 'works',
      why: 'Node lstat()s every ancestor of the workspace (elevated: traverse rights on the profile folders)',
    },
    f.ui.privateDesktop
      ? {
          id: 'input-injection',
          argv: [
            ...PS,
            'Add-Type -Name K -Namespace W -MemberDefinition \'[DllImport("user32.dll")] public static extern void keybd_event(byte v,byte s,uint f,System.UIntPtr e);\'; [W.K]::keybd_event(0x58,0,0,[UIntPtr]::Zero)',
          ],
          expect: 'blocked',
          why: 'keystrokes from the private desktop must not reach the window the verifier opened outside',
          hole: 'no private desktop',
        }
      : {
          id: 'input-injection',
          argv: [],
          expect: 'not-checked',
          why: f.ui.gaps.join(' ') || 'no private desktop here',
        },
    f.ui.uiLimits
      ? {
          id: 'clipboard-read',
          argv: [...PS, 'Get-Clipboard'],
          expect: 'blocked',
          why: "the job's READCLIPBOARD limit",
          hole: 'no UI limits',
        }
      : { id: 'clipboard-read', argv: [], expect: 'not-checked', why: f.ui.gaps.join(' ') },
    {
      id: 'dns-lookup',
      argv: [...PS, 'Resolve-DnsName -DnsOnly -QuickTimeout {dns}'],
      expect: offline ? 'not-checked' : 'works',
      why: offline
        ? "DNS is resolved by the DNS Client service on the account's behalf; no filter blocks it yet (known leak, reported)"
        : 'online',
    },
    {
      id: 'unc-path',
      argv: ['cmd.exe', '/d', '/c', 'dir {unc}'],
      expect: offline ? 'not-checked' : 'works',
      why: offline
        ? "SMB goes through the kernel redirector, not the account's sockets; no filter blocks it yet (known leak, reported)"
        : 'online',
    },
    {
      id: 'git-status',
      argv: ['git', 'status', '--porcelain'],
      expect: 'works',
      why:
        f.mode === 'elevated'
          ? 'safe.directory is given through GIT_CONFIG_* (the repository belongs to the developer)'
          : 'plain git',
      ...(f.mode === 'elevated' ? { hole: 'no GIT_CONFIG_* safe.directory' } : {}),
    },
    offline
      ? {
          id: 'https',
          argv: ['curl.exe', '-sSI', 'https://www.microsoft.com'],
          expect: blocks ? 'blocked' : 'not-checked',
          why: blocks
            ? 'the offline firewall rule'
            : f.mode === 'elevated'
              ? `the firewall is not enforcing: ${f.firewall?.reasons.join('; ') ?? 'not read'}`
              : 'unelevated offline is advisory',
        }
      : {
          id: 'https',
          argv: [
            'node.exe',
            '-e',
            "require('https').get('https://www.microsoft.com',r=>process.exit(r.statusCode<500?0:1)).on('error',()=>process.exit(1))",
          ],
          expect: 'works',
          why: "online HTTPS through Node's own TLS (Schannel refuses restricted tokens: curl.exe/Invoke-WebRequest are a documented limit)",
        },
  ];
  return probes.map(real);
}
