// Bundles the extension, the CLI and the runner with esbuild. `vscode` and koffi stay external: koffi's native
// prebuilds ship in node_modules inside the vsix.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';

const watch = process.argv.includes('--watch');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external: ['vscode', 'koffi'],
  logLevel: 'info',
};
// The launcher's warm client (src/cli/warm/channels.ts) needs the Windows pipe channel only on win32: there it takes
// it from the CLI bundle (which holds it anyway, and whose Win32 bindings must exist once per process: koffi refuses
// a type declared twice), so the launcher every Linux `run` loads stays small.
const winChannelFromBundle = {
  name: 'win-channel-from-bundle',
  setup(build) {
    build.onResolve({ filter: /^\.\/channel-win32$/ }, () => ({ path: './cli-main.js', external: true }));
  },
};
const entries = [
  { entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/extension.js' },
  // dist/cli.js is a tiny launcher that loads dist/cli-main.js with a V8 code cache (see src/cli/launcher.ts)
  {
    entryPoints: ['src/cli/launcher.ts'],
    outfile: 'dist/cli.js',
    banner: { js: '#!/usr/bin/env node' },
    plugins: [winChannelFromBundle],
  },
  { entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli-main.js' },
  { entryPoints: ['src/runner/main.ts'], outfile: 'dist/runner.js' },
  { entryPoints: ['src/runner/linux/entry.ts'], outfile: 'dist/runner-linux.js' },
  { entryPoints: ['src/runner/windows/entry.ts'], outfile: 'dist/runner-win32.js' },
  { entryPoints: ['src/verify/probe.ts'], outfile: 'dist/probe.js' },
  // preloaded into Node programs in an allowlist sandbox; it loads the agents' bundles only when they are used
  { entryPoints: ['src/runner/node-proxy/preload.ts'], outfile: 'dist/node-proxy.js' },
  { entryPoints: ['src/runner/node-proxy/fetch-agent.ts'], outfile: 'dist/node-proxy-fetch.js' },
  { entryPoints: ['src/runner/node-proxy/http-agents.ts'], outfile: 'dist/node-proxy-http.js' },
];
// dist/agent-sandbox: the CLI's launcher on Linux (a sh preamble, then the warm broker's fast client in Python;
// src/cli/warm/fast-client.py), which falls back to `node dist/cli.js`. Copied as is, executable.
fs.mkdirSync('dist', { recursive: true });
fs.copyFileSync('src/cli/warm/fast-client.py', 'dist/agent-sandbox');
fs.chmodSync('dist/agent-sandbox', 0o755);
if (watch) {
  for (const e of entries) await (await esbuild.context({ ...common, ...e })).watch();
} else {
  await Promise.all(entries.map((e) => esbuild.build({ ...common, ...e })));
}
