/** Placeholder until the linux backend lands: fails closed, never runs anything. */
import { SandboxError, SandboxErrorCode } from '../errors';
import type { SandboxBackend } from '../types';
import type { BackendOptions } from '..';

export function createLinuxBackend(_opts: BackendOptions): SandboxBackend {
  throw new SandboxError(
    SandboxErrorCode.BackendUnavailable,
    'The linux sandbox backend is not available in this build, so nothing was run.',
    'Update Agent Sandbox to a version with the linux backend.',
  );
}
