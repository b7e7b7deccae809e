/**
 * What the CLI's warm broker daemon (src/cli/warm/daemon.ts) builds its sandbox from: the same Broker the extension
 * uses, the command environment, host preparation, the bubblewrap probe and the visibility check. Loaded lazily
 * through the sandbox index (`linuxWarm()`), so the daemon reaches the backend only through it.
 */
export { Broker } from './broker';
export { commandEnv, hideProxySockets } from './launch';
export { release } from './live';
export { proxySocketDir } from '../../network/shared';
export { prepareHost } from './prepare';
export { probeBwrap } from './probe';
export { checkVisible } from './visibility';
