/**
 * The Windows probes Verify must run, and what each must show in each mode (pure, unit-tested): the review's §5
 * checklist. Each probe runs through the tool's path (pipes) and the terminal's (ConPTY). `expect` is what a
 * working sandbox shows; `hole` names the deliberate weakening that must turn a pass into a failure, where one can
 * be made. Must never expect "blocked" for something the mode does not claim to block (it would report a false
 * failure), nor "works" for a thing only real Windows can show when it is not real Windows ("not-checked").
 */
import type { UiIsolation } from '../sandbox/windows/ui-isolation';
import type { FirewallVerdict } from '../sandbox/windows/firewall-state';
import type { VerifyHole } from './types';

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
  | 'direct-tcp'
  | 'https';

export interface WindowsProbe {
  id: WindowsProbeId;
  /** The command, as run in the sandbox's workspace ({dns}, {unc} are filled in by the verifier: see PROBE_TARGETS). */
  argv: string[];
  expect: 'works' | 'blocked' | 'not-checked';
  why: string;
  /**
   * The test hook's weakening (./holes) that must make this probe fail, when one can be made here; a probe
   * without one says why in `why`.
   */
  hole?: VerifyHole;
}

/**
 * What {dns} and {unc} stand for: a public name (an answer proves the lookup left the sandbox, from the DNS Client
 * service's cache or the network), and this machine's own SMB server over loopback (a share list proves the
 * redirector connected for the account; blocked, `net view` exits 2 with "network path was not found").
 */
export const PROBE_TARGETS = { dns: 'www.microsoft.com', unc: '\\\\127.0.0.1' } as const;

/** An address literal on the internet for the direct-connection probe (no DNS involved). */
export const DIRECT_TCP_TARGET = '1.1.1.1';

/**
 * The desktop escape (review §3.1): from inside the sandbox, open the developer's `Default` desktop, move this
 * thread onto it, then post characters to the window the verifier opened outside ({hwnd}) and inject a key. The
 * verifier judges the effect on that window; the exit code says how far it got (2: OpenDesktop refused, 3:
 * SetThreadDesktop refused, 4: PostMessage refused, 0: every call succeeded).
 */
export const INJECTION_SCRIPT =
  "Add-Type -Name I -Namespace W -MemberDefinition '" +
  '[DllImport("user32.dll")] public static extern IntPtr OpenDesktop(string n,uint f,bool i,uint a); ' +
  '[DllImport("user32.dll")] public static extern bool SetThreadDesktop(IntPtr d); ' +
  '[DllImport("user32.dll")] public static extern bool PostMessage(IntPtr h,uint m,IntPtr w,IntPtr l); ' +
  '[DllImport("user32.dll")] public static extern void keybd_event(byte v,byte s,uint f,UIntPtr e);\'; ' +
  "$d=[W.I]::OpenDesktop('Default',0,$false,0x1FF); if($d -eq [IntPtr]::Zero){exit 2}; " +
  'if(-not [W.I]::SetThreadDesktop($d)){exit 3}; ' +
  '$p=[W.I]::PostMessage([IntPtr][Int64]{hwnd},0x102,[IntPtr]0x71,[IntPtr]1); ' +
  '[W.I]::keybd_event(0x51,0,0,[UIntPtr]::Zero); [W.I]::keybd_event(0x51,0,2,[UIntPtr]::Zero); ' +
  'if($p){exit 0}; exit 4';

export function fillProbeArg(a: string): string {
  return a.replace('{dns}', PROBE_TARGETS.dns).replace('{unc}', PROBE_TARGETS.unc);
}

export interface WindowsVerifyFacts {
  mode: 'unelevated' | 'elevated';
  /** `offline` stands for allowlist too: both run as the offline account, whose rules block all but the proxy. */
  network: 'offline' | 'online';
  wine: boolean;
  ui: UiIsolation;
  firewall?: FirewallVerdict;
}

const PS = ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command'];

export function windowsProbes(f: WindowsVerifyFacts): WindowsProbe[] {
  const real = (p: WindowsProbe): WindowsProbe => (f.wine ? { ...p, expect: 'not-checked', why: `Wine: ${p.why}` } : p);
  const offline = f.network === 'offline';
  const online = !offline;
  const blocks = offline && f.mode === 'elevated' && f.firewall?.enforced === true;
  const notBlockingWhy =
    f.mode === 'elevated'
      ? `the firewall is not enforcing: ${f.firewall?.reasons.join('; ') ?? 'not read'}`
      : 'unelevated offline is advisory';
  const probes: WindowsProbe[] = [
    {
      id: 'console-cmd',
      argv: ['cmd.exe', '/d', '/s', '/c', 'echo ok'],
      expect: 'works',
      why: 'a console program on the pipe path needs the console the caller made (else exit 0xC0000142)',
      hole: 'win-no-pseudoconsole',
    },
    {
      id: 'console-powershell',
      argv: [...PS, '1'],
      expect: 'works',
      why: 'PowerShell on the pipe path',
      hole: 'win-no-pseudoconsole',
    },
    {
      id: 'console-node',
      argv: ['node.exe', '-e', '0'],
      expect: 'works',
      why: 'a console-subsystem node.exe (Code.exe is GUI)',
      hole: 'win-no-pseudoconsole',
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
      ...(f.mode === 'elevated' ? { hole: 'win-own-sid' as const } : {}),
    },
    {
      id: 'realpath-workspace',
      argv: ['node.exe', '-e', "require('fs').realpathSync(process.cwd())"],
      expect: 'works',
      why:
        f.mode === 'elevated'
          ? "Node lstat()s every ancestor of the workspace: setup's traverse-only ACEs on the profile folders above it " +
            "(the hole denies the group traverse on the workspace's parent, as if setup had not written its ACE)"
          : 'Node lstat()s every ancestor of the workspace (no hole: unelevated reads are checked against your own ' +
            'SIDs, so no weakened plan can take them from the sandbox alone)',
      ...(f.mode === 'elevated' ? { hole: 'win-no-ancestor-traverse' as const } : {}),
    },
    f.ui.privateDesktop && (f.mode === 'elevated' || f.ui.uiLimits)
      ? {
          id: 'input-injection',
          argv: [...PS, INJECTION_SCRIPT],
          expect: 'blocked',
          why:
            'from the private desktop, opening your Default desktop, switching to it and posting input to the window ' +
            'the verifier opened outside must not reach that window' +
            (f.mode === 'elevated'
              ? " (no hole: Default's DACL does not admit the sandbox account's logon, and the desktop is the runner's, named at its logon)"
              : " (your logon SID is in the token, so Default's DACL admits it: the job's DESKTOP/HANDLES limits stop the switch back and the posting; the hole drops them)"),
          ...(f.mode === 'unelevated' ? { hole: 'win-no-ui-limits' as const } : {}),
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
          hole: 'win-no-ui-limits',
        }
      : { id: 'clipboard-read', argv: [], expect: 'not-checked', why: f.ui.gaps.join(' ') },
    {
      id: 'dns-lookup',
      argv: [...PS, 'Resolve-DnsName -DnsOnly -QuickTimeout {dns} -ErrorAction Stop'],
      expect: online ? 'works' : blocks ? 'blocked' : 'not-checked',
      why: online
        ? 'online'
        : blocks
          ? "the account's own DNS sockets are blocked, but the DNS Client service resolves on its behalf and no " +
            'per-user rule sees that: if this row fails, names the sandbox picks leave the machine as DNS queries (documented gap; ' +
            "no hole: the online account's own DNS sockets are blocked too, and the service path is not per-account)"
          : notBlockingWhy,
    },
    {
      id: 'unc-path',
      argv: ['net.exe', 'view', '{unc}'],
      expect: online ? 'not-checked' : blocks ? 'blocked' : 'not-checked',
      why: online
        ? 'online mode claims nothing about SMB'
        : blocks
          ? "the account's own SMB sockets are blocked, but the kernel redirector connects for it and no per-user rule " +
            'sees that: if this row fails, SMB shares that admit the sandbox account are reachable (documented gap; no ' +
            "hole: the online account's own SMB sockets are blocked too, and the redirector is not per-account)"
          : notBlockingWhy,
    },
    {
      id: 'git-status',
      argv: ['git', 'status', '--porcelain'],
      expect: 'works',
      why:
        f.mode === 'elevated'
          ? 'safe.directory is given through GIT_CONFIG_* (the repository belongs to the developer)'
          : 'plain git',
      ...(f.mode === 'elevated' ? { hole: 'win-no-safe-directory' as const } : {}),
    },
    offline
      ? {
          // A direct connection that ignores the proxy variables, to an address literal (no DNS), without TLS
          // (Schannel refuses restricted tokens, which would make a TLS client fail whatever the firewall does).
          id: 'direct-tcp',
          argv: [
            'node.exe',
            '-e',
            `require('net').connect(443,'${DIRECT_TCP_TARGET}').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1)).setTimeout(10000,()=>process.exit(1))`,
          ],
          expect: blocks ? 'blocked' : 'not-checked',
          ...(blocks ? { hole: 'network' as const } : {}),
          why: blocks
            ? "the offline account's firewall rules (offline, and allowlist for anything that goes around the proxy)"
            : notBlockingWhy,
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
