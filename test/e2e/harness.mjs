// Starts the VS Code server shipped in the `code-server` npm package (VS Code's real Node extension host) and opens
// its workbench in headless Debian Chromium through playwright-core. Shared by the extension-test runner and the
// UI drive. Each run gets its own HOME/TMPDIR under WORK; stop() kills the server's process group and leftovers.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';

const env = process.env;
export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const TOOLS = path.resolve(env.E2E_TOOLS || path.join(ROOT, '.e2e/tools'));
const SERVER_MAIN = path.join(TOOLS, 'node_modules/code-server/lib/vscode/out/server-main.js');
const CHROMIUM = env.CHROMIUM_BIN || '/usr/lib/chromium/chromium';
const t0 = Date.now();
export const ts = () => `[+${((Date.now() - t0) / 1000).toFixed(1)}s]`;

export function loadPlaywright() {
  return createRequire(path.join(TOOLS, 'package.json'))('playwright-core');
}

const freePort = () =>
  new Promise((r) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });

/**
 * Installs an unpacked extension folder into the fresh extensions dir as `publisher.name-version`. With no
 * extensions.json there yet, the server adopts every folder it finds there on start (its first-run scan).
 */
function installUnpacked(extensionsDir, folder) {
  const m = JSON.parse(fs.readFileSync(path.join(folder, 'package.json'), 'utf8'));
  fs.cpSync(folder, path.join(extensionsDir, `${m.publisher}.${m.name}-${m.version}`), { recursive: true });
}

/**
 * Starts the server; `userSettings` are written to the fresh user-data dir. `trust: true` turns workspace trust on, so
 * the opened folder starts untrusted (restricted mode). `extensions`: unpacked extension folders installed next to the
 * one under development (the web workbench takes a single extensionDevelopmentPath).
 */
export async function startServer({ work, userSettings = {}, extraEnv = {}, trust = false, extensions = [] }) {
  if (!fs.existsSync(SERVER_MAIN)) throw new Error(`missing ${SERVER_MAIN}: run scripts/setup-e2e.sh`);
  for (const d of ['user-data/User', 'extensions', 'home', 'tmp', 'runtime', 'server-data'])
    fs.mkdirSync(path.join(work, d), { recursive: true });
  for (const e of extensions) installUnpacked(path.join(work, 'extensions'), e);
  fs.writeFileSync(
    path.join(work, 'user-data/User/settings.json'),
    JSON.stringify(
      {
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'extensions.ignoreRecommendations': true,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'task.problemMatchers.neverPrompt': true,
        'terminal.integrated.gpuAcceleration': 'off',
        'security.workspace.trust.enabled': trust,
        'security.workspace.trust.startupPrompt': 'never',
        ...userSettings,
      },
      null,
      1,
    ),
  );
  const port = await freePort();
  const home = path.join(work, 'home');
  const server = spawn(
    env.NODE_FOR_CS_BIN || process.execPath,
    [
      SERVER_MAIN,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--without-connection-token',
      '--accept-server-license-terms',
      '--enable-smoke-test-driver',
      '--disable-telemetry',
      ...(trust ? [] : ['--disable-workspace-trust']),
      '--server-data-dir',
      path.join(work, 'server-data'),
      '--user-data-dir',
      path.join(work, 'user-data'),
      '--extensions-dir',
      path.join(work, 'extensions'),
    ],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...env,
        ...extraEnv,
        HOME: home,
        XDG_CONFIG_HOME: `${home}/.config`,
        XDG_DATA_HOME: `${home}/.local/share`,
        TMPDIR: path.join(work, 'tmp'),
        XDG_RUNTIME_DIR: path.join(work, 'runtime'),
      },
    },
  );
  const log = fs.createWriteStream(path.join(work, 'server.log'));
  await new Promise((res, rej) => {
    const to = setTimeout(() => rej(new Error(`server did not start; see ${work}/server.log`)), 90000);
    for (const s of [server.stdout, server.stderr])
      s.on('data', (b) => {
        log.write(b);
        if (env.VERBOSE) process.stdout.write(b);
        if (/listening on|Extension host agent listening/.test(b)) {
          clearTimeout(to);
          res();
        }
      });
    server.on('exit', (c) => rej(new Error(`server exited (${c}); see ${work}/server.log`)));
  });
  const stop = () => {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    // children that left the process group (a respawned ptyHost, sandboxed shells) still carry WORK in argv/env paths
    for (const p of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
      try {
        if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(work)) process.kill(Number(p), 'SIGKILL');
      } catch {
        /* raced */
      }
    }
  };
  process.on('exit', stop);
  return { port, stop };
}

export async function openBrowser() {
  const { chromium } = loadPlaywright();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  return { browser, page };
}

/** The workbench URL for `folder`, loading the extension at `extDev` (and its tests, when given). */
export function workbenchUrl(port, folder, extDev, testsPath) {
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${path.resolve(p)}`;
  const payload = [
    ['extensionDevelopmentPath', remote(extDev)],
    ['skipWelcome', 'true'],
  ];
  if (testsPath) payload.push(['extensionTestsPath', remote(testsPath)]);
  return `http://127.0.0.1:${port}/?folder=${encodeURIComponent(path.resolve(folder))}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export function freshWork(name) {
  const base = path.resolve(env.E2E_WORK_BASE || path.join(ROOT, '.e2e/run'));
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, `${name}-`));
}
