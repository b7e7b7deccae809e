/** Picks the warm broker's channel (channel.ts) for this platform. */
import type { WarmChannel } from './channel';
import { unixChannel } from './channel-unix';

/** The channel of this platform. The Windows one is loaded only there (it brings the Win32 bindings). */
export function warmChannel(): WarmChannel {
  if (process.platform !== 'win32') return unixChannel;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./channel-win32') as typeof import('./channel-win32')).pipeChannel;
}
