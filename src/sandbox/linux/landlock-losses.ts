/**
 * What a kernel's Landlock ABI leaves unenforced, in words, for the plan, `agent-sandbox status`, the status bar
 * and Verify, and for the runner's refusal under `requireFullLandlock`. Pure.
 */

/** Each protection the sandbox would have had at ABI 6 and does not get at `abi` (empty at 6 and above). */
export function landlockLosses(abi: number, offline: boolean): string[] {
  if (abi < 1) {
    return [
      "no Landlock: writes outside the roots are stopped by bubblewrap's read-only mounts alone (no second layer)",
      ...(offline ? ['no Landlock TCP rule: offline relies on the network namespace and the socket filter'] : []),
      'abstract Unix sockets and signals are not scoped to the sandbox' +
        (offline ? '' : ": online, the host's abstract sockets (X11, D-Bus, IDE helpers) are reachable"),
    ];
  }
  const out: string[] = [];
  if (abi < 2) out.push('Landlock ABI < 2: renames and links across folders are not checked by Landlock');
  if (abi < 3) out.push('Landlock ABI < 3: truncation is not checked by Landlock');
  if (abi < 4 && offline)
    out.push('Landlock ABI < 4: no Landlock TCP rule (offline relies on the network namespace and socket filter)');
  if (abi < 6) {
    out.push(
      'Landlock ABI < 6: abstract Unix sockets and signals are not scoped to the sandbox' +
        (offline ? '' : ": online, the host's abstract sockets (X11, D-Bus, IDE helpers) are reachable"),
    );
  }
  return out;
}
