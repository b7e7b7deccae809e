/**
 * Refusing to build an unelevated sandbox from an elevated process (VS Code or the CLI "run as administrator"): the
 * restricted token is derived from this process's own, so it would keep high integrity (UIPI no longer separates
 * it from elevated windows) and the Administrators group for reads. Pure decision; the token is read by the caller.
 * Must never let an unelevated plan run from a full (elevated) token, except under Wine, whose only user is an
 * administrator and where nothing is enforced anyway.
 */
import { SandboxError, SandboxErrorCode } from '../../errors';
import { ElevationType } from '../../../native-bindings/win32/token';

export function refuseElevatedCaller(elevationType: number, wine: boolean): void {
  if (wine || elevationType !== ElevationType.FULL) return;
  throw new SandboxError(
    SandboxErrorCode.InvalidPolicy,
    'Agent Sandbox is running as administrator (elevated): an unelevated sandbox made from this token would keep high ' +
      'integrity and the Administrators group. Nothing was run.',
    'Start VS Code (or the terminal running agent-sandbox) normally, not "as administrator"; or use the elevated mode after setup.',
  );
}
