/** Placeholder until the windows backend lands: fails closed, never runs anything. */
import { SandboxError, SandboxErrorCode } from '../errors';
import type { SandboxBackend } from '../types';
import type { BackendOptions } from '..';

export function createWindowsBackend(_opts: BackendOptions): SandboxBackend {
  throw new SandboxError(
    SandboxErrorCode.BackendUnavailable,
    'The windows sandbox backend is not available in this build, so nothing was run.',
    'Update Agent Sandbox to a version with the windows backend.',
  );
}
