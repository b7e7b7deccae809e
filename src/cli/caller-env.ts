/**
 * What the fast launcher (`dist/agent-sandbox`, src/cli/warm/fast-client.py) moved aside before starting the CLI's
 * Node, put back first thing: the CLI makes no TLS connection of its own, so its Node is started with
 * `NODE_EXTRA_CA_CERTS` empty (Node then skips parsing that bundle at start-up, tens of ms per run) and the caller's
 * value in `AGENT_SANDBOX_CALLER_NODE_EXTRA_CA_CERTS`. Restored, the environment is the caller's again, exactly: the
 * command, the warm broker's key and everything else see what they would have seen without the launcher.
 * No imports: the launcher calls this before anything else runs.
 */
export const SAVED_CA_VAR = 'AGENT_SANDBOX_CALLER_NODE_EXTRA_CA_CERTS';

export function restoreCallerEnv(env: NodeJS.ProcessEnv): void {
  // The launcher's record of LC_CTYPE for its Python client (which restores it itself): never the command's.
  delete env.AGENT_SANDBOX_CALLER_LC_CTYPE;
  const saved = env[SAVED_CA_VAR];
  if (saved === undefined) return;
  delete env[SAVED_CA_VAR];
  // Only what the launcher emptied is put back; a value set some other way is the caller's own.
  if (env.NODE_EXTRA_CA_CERTS === '') env.NODE_EXTRA_CA_CERTS = saved;
}
