/**
 * Runs one elevated action and returns its result: creates the result pipe (only elevated Administrators may
 * open it), starts the runner elevated with one UAC prompt, checks who connected, reads one result frame and
 * checks its nonce. The UAC prompt being declined is SandboxError(setup-cancelled). Must never trust a result
 * whose nonce differs, and never leave the elevated process's handle open.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { ERROR_CANCELLED, runElevated, waitForExit } from '../../../../native-bindings/win32/elevate';
import { isWin32Error } from '../../../../native-bindings/win32/errors';
import { createPipeServer, pipeSddl, uniquePipeName } from '../../../../native-bindings/win32/pipe';
import { clientProcessId, readChunk, waitForClient } from '../../../../native-bindings/win32/pipe-io';
import { WellKnownSid } from '../../../../native-bindings/win32/sid';
import { SandboxError, SandboxErrorCode } from '../../../errors';
import { elevationCommand } from './elevation-command';
import { FrameDecoder } from '../../../protocol/windows';
import { ElevatedResult, encodeRequest, type ElevatedRequest } from './payload';
import { runnerScript } from '../runner-script';

const CONNECT_TIMEOUT_MS = 120_000;

export async function requestElevated(
  fields: Pick<ElevatedRequest, 'action' | 'stateDir' | 'home' | 'grants'>,
  signal?: AbortSignal,
): Promise<ElevatedResult> {
  const pipe = uniquePipeName('setup');
  const nonce = randomBytes(16).toString('hex');
  const server = createPipeServer(pipe, pipeSddl([WellKnownSid.Administrators]));
  try {
    const script = runnerScript();
    const electron = Boolean(process.versions.electron);
    const cmd = elevationCommand({
      execPath: process.execPath,
      script,
      electron,
      payload: encodeRequest({ version: 1, pipe, nonce, ...fields }),
      comspec: process.env.ComSpec ?? 'C:\\Windows\\System32\\cmd.exe',
    });
    let elevated: Awaited<ReturnType<typeof runElevated>>;
    try {
      elevated = await runElevated(cmd.file, cmd.parameters, path.dirname(script));
    } catch (e) {
      if (isWin32Error(e, ERROR_CANCELLED)) {
        throw new SandboxError(
          SandboxErrorCode.SetupCancelled,
          'The administrator prompt was declined, so nothing was changed.',
          `Run "agent-sandbox ${fields.action}" again and choose Yes in the Windows prompt (an administrator's password may be needed).`,
        );
      }
      throw failed(`could not start the elevated process: ${(e as Error).message}`, e);
    }
    try {
      // Stop waiting as soon as the elevated process is gone without having connected.
      const exited = new AbortController();
      const exit = waitForExit(elevated.process).finally(() => exited.abort());
      try {
        await waitForClient(
          server,
          CONNECT_TIMEOUT_MS,
          signal ? AbortSignal.any([signal, exited.signal]) : exited.signal,
        );
      } catch (e) {
        if (exited.signal.aborted && !signal?.aborted)
          throw failed(`the elevated process exited with code ${await exit} before answering`);
        throw e;
      }
      // Under VS Code the elevated process is cmd.exe, which starts our runtime; only then is the pid another one.
      if (!electron && clientProcessId(server) !== elevated.pid)
        throw failed('another process answered on the setup pipe');
      const result = await readResult(server);
      await exit;
      if (result.nonce !== nonce || result.action !== fields.action)
        throw failed('the elevated process answered for another request');
      return result;
    } finally {
      elevated.process.close();
    }
  } finally {
    server.close();
  }
}

async function readResult(server: Parameters<typeof readChunk>[0]): Promise<ElevatedResult> {
  const decoder = new FrameDecoder(ElevatedResult);
  const results: ElevatedResult[] = [];
  for (let chunk = await readChunk(server); chunk; chunk = await readChunk(server))
    results.push(...decoder.push(chunk));
  decoder.end();
  if (results.length !== 1) throw failed(`the elevated process sent ${results.length} results instead of one`);
  return results[0];
}

function failed(message: string, cause?: unknown): SandboxError {
  return new SandboxError(
    SandboxErrorCode.SetupFailed,
    `Windows sandbox setup failed: ${message}.`,
    'Run "agent-sandbox setup" again; if it keeps failing, run "agent-sandbox status" and report its output.',
    { cause },
  );
}
