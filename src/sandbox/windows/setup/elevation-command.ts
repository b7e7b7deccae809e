/**
 * The program and parameters handed to ShellExecuteExW("runas") to run our runner script elevated on the same
 * runtime. Under plain Node that is node.exe itself. Under VS Code's runtime (Electron) the process must see
 * ELECTRON_RUN_AS_NODE=1, and an elevated process does not inherit our environment, so cmd.exe sets it first.
 * Pure. Must never build a command line from anything but known paths and a base64url payload.
 */
export interface ElevationInput {
  execPath: string;
  script: string;
  /** base64url payload from payload.ts (no characters that need quoting). */
  payload: string;
  electron: boolean;
  comspec: string;
}

export function elevationCommand(i: ElevationInput): { file: string; parameters: string } {
  if (!/^asb1\.[A-Za-z0-9_-]+$/.test(i.payload)) throw new Error('the elevation payload must be base64url');
  for (const p of [i.execPath, i.script, i.comspec]) {
    // cmd.exe expands %VAR% and (with delayed expansion) !VAR! even inside quotes; such paths are refused.
    if (/["%!\r\n]/.test(p)) throw new Error(`cannot elevate through a path containing ", % or !: ${p}`);
  }
  const run = `"${i.script}" --elevated ${i.payload}`;
  if (!i.electron) return { file: i.execPath, parameters: run };
  return { file: i.comspec, parameters: `/d /s /c "set ELECTRON_RUN_AS_NODE=1&& "${i.execPath}" ${run}"` };
}
