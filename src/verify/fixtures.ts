/**
 * Everything the verifier puts on disk outside the sandbox, and its removal. A Fixture knows every path it made
 * (or that the probe may make) and removes exactly those in close(), which is idempotent and never throws. It must
 * never delete a file it did not create, nor a placeholder the sandbox itself made.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_SOCKET_PATH } from './connect';
import { isWithin } from '../policy/paths';

export interface FixtureOptions {
  /**
   * A workspace to test in. Default on Linux: a fresh temp folder that close() removes. Default on Windows: a
   * stable folder under the state dir, kept between runs, because every new root costs a capability SID and
   * ledgered ACL grants (a fresh folder per run would pile them up).
   */
  workspace?: string;
  stateDir: string;
}

/** Where the verifier's own workspace lives when the caller gives none. */
function defaultWorkspace(stateDir: string): { dir: string; fresh: boolean } {
  if (process.platform === 'win32') {
    const dir = path.join(stateDir, 'verify-workspace');
    fs.mkdirSync(dir, { recursive: true });
    return { dir, fresh: false };
  }
  return { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'agent-sandbox-verify-ws-')), fresh: true };
}

export class Fixture {
  readonly nonce = randomBytes(8).toString('hex');
  /** The unique file name every probe write uses, so cleanup removes only what this run made. */
  readonly fileName = `agent-sandbox-verify-${this.nonce}.txt`;
  readonly workspace: string;
  /** The verifier created the workspace for this run alone and removes it whole. */
  readonly ownsWorkspace: boolean;
  /** Outside every writable root and visible inside the sandbox: holds the link target and the fake secret. */
  readonly outside: string;
  readonly linkTarget: string;
  readonly secretAnchor: string;
  readonly secretDir: string;
  readonly secretFile: string;
  /** A folder in the user's real temp. */
  readonly realTemp: string;
  readonly link: string;
  linkError?: string;
  readonly heartbeat: string;
  readonly stop: string;
  /**
   * Stands in for the session's runtime folder ($XDG_RUNTIME_DIR: session bus, keyrings, agents) in the verify
   * plan, outside every writable root; `runtimeSocket` is where the verifier listens in it. Under the state dir
   * when the socket's path fits a Unix socket address, else in /var/tmp (see `shortRuntimeDir`).
   */
  runtimeDir = '';
  runtimeSocket = '';
  /** The runtime folder was made outside `outside` (in /var/tmp) and is removed on its own. */
  private runtimeDirApart = false;
  /** Paths the probe may create outside the folders above; removed when they hold this run's nonce. */
  private readonly strays = new Set<string>();
  /** Paths that did not exist before the run and may be removed if nothing but the sandbox explains them. */
  private readonly createdByProbe = new Set<string>();
  private closed = false;

  constructor(opts: FixtureOptions) {
    const seeded = opts.workspace === undefined;
    try {
      fs.mkdirSync(opts.stateDir, { recursive: true });
      const ws = opts.workspace === undefined ? defaultWorkspace(opts.stateDir) : { dir: opts.workspace, fresh: false };
      this.ownsWorkspace = ws.fresh;
      this.workspace = fs.realpathSync.native(ws.dir);
      const outsideBase = outsideFixtureBase(opts.stateDir);
      this.outside = fs.realpathSync.native(fs.mkdtempSync(outsideBase));
      this.realTemp = fs.realpathSync.native(fs.mkdtempSync(path.join(os.tmpdir(), 'agent-sandbox-verify-')));
    } catch (e) {
      this.close();
      throw e;
    }
    this.linkTarget = path.join(this.outside, 'outside');
    this.secretAnchor = path.join(this.outside, 'home');
    this.secretDir = path.join(this.secretAnchor, '.ssh');
    this.secretFile = path.join(this.secretDir, 'id_verify');
    this.link = path.join(this.workspace, `.agent-sandbox-verify-link-${this.nonce}`);
    this.heartbeat = path.join(this.workspace, `.agent-sandbox-verify-heartbeat-${this.nonce}`);
    this.stop = path.join(this.workspace, `.agent-sandbox-verify-stop-${this.nonce}`);
    try {
      this.seed(seeded);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private seed(seedWorkspace: boolean): void {
    fs.mkdirSync(this.linkTarget);
    this.makeRuntimeDir();
    fs.mkdirSync(this.secretDir, { recursive: true });
    fs.writeFileSync(this.secretFile, `fake secret ${this.nonce}\n`, { mode: 0o600 });
    if (seedWorkspace) this.seedWorkspace();
    try {
      fs.symlinkSync(this.linkTarget, this.link, process.platform === 'win32' ? 'junction' : 'dir');
    } catch (e) {
      this.linkError = String((e as Error).message ?? e);
    }
  }

  /**
   * A socket address holds at most UNIX_PATH_MAX - 1 bytes, and Node silently cuts a longer path (so the listener
   * and the probe would meet at a truncated path outside the folder under test). VS Code's storage folders are
   * deep, so a socket there can be too long: /var/tmp (visible inside the sandbox, never its private /tmp) is
   * used instead.
   */
  private makeRuntimeDir(): void {
    let dir = path.join(this.outside, 'run');
    if (Buffer.byteLength(path.join(dir, 'bus')) > MAX_SOCKET_PATH && process.platform === 'linux') {
      try {
        dir = fs.realpathSync(fs.mkdtempSync('/var/tmp/agent-sandbox-verify-run-'));
        this.runtimeDirApart = true;
      } catch {
        // /var/tmp is not writable here: the socket cannot be listened on, and the check is left out with a note
      }
    }
    if (!this.runtimeDirApart) fs.mkdirSync(dir, { mode: 0o700 });
    this.runtimeDir = dir;
    this.runtimeSocket = path.join(dir, 'bus');
  }

  /**
   * The verifier's own workspace gets a git skeleton (.git/HEAD, .git/hooks and .git/config exist; .vscode is left
   * missing). HEAD makes it a repository: a .git without one is protected whole, as not a repository yet.
   */
  private seedWorkspace(): void {
    fs.mkdirSync(path.join(this.workspace, '.git', 'hooks'), { recursive: true });
    const config = path.join(this.workspace, '.git', 'config');
    if (!fs.existsSync(config)) fs.writeFileSync(config, '[core]\n\tbare = false\n');
    const head = path.join(this.workspace, '.git', 'HEAD');
    if (!fs.existsSync(head)) fs.writeFileSync(head, 'ref: refs/heads/main\n');
  }

  /** Registers a file the probe may create (removed at close when it carries this run's nonce). */
  stray(p: string): string {
    this.strays.add(p);
    return p;
  }

  /** Registers a path missing before the run that the probe may create (removed at close unless `keep` says so). */
  mayCreate(p: string): void {
    if (!fs.existsSync(p)) this.createdByProbe.add(p);
  }

  /** Removes everything this run made. `sandboxMade` are placeholders the sandbox itself created: kept. */
  close(sandboxMade: ReadonlySet<string> = new Set()): string[] {
    if (this.closed) return [];
    this.closed = true;
    const problems: string[] = [];
    const attempt = (what: string | undefined, f: () => void) => {
      if (what === undefined) return;
      try {
        f();
      } catch (e) {
        problems.push(`${what}: ${(e as Error).message}`);
      }
    };
    for (const p of this.strays) attempt(p, () => removeIfOurs(p, this.nonce));
    for (const p of [...this.createdByProbe].reverse()) {
      if (!sandboxMade.has(p)) attempt(p, () => removeIfEmptyOrOurs(p, this.nonce));
    }
    attempt(this.link, () => fs.rmSync(this.link, { force: true }));
    for (const p of [this.heartbeat, this.stop]) attempt(p, () => fs.rmSync(p, { force: true }));
    for (const p of [this.outside, this.realTemp]) attempt(p, () => fs.rmSync(p, { recursive: true, force: true }));
    if (this.runtimeDirApart)
      attempt(this.runtimeDir, () => fs.rmSync(this.runtimeDir, { recursive: true, force: true }));
    if (this.ownsWorkspace) attempt(this.workspace, () => fs.rmSync(this.workspace, { recursive: true, force: true }));
    return problems;
  }
}

function removeIfOurs(p: string, nonce: string): void {
  let content: string;
  try {
    content = fs.readFileSync(p, 'utf8');
  } catch {
    return;
  }
  // Empty with this run's nonce in its name: the probe was stopped (a cancel) between creating and writing it.
  if (content.includes(nonce) || (content === '' && path.basename(p).includes(nonce))) fs.rmSync(p, { force: true });
}

function removeIfEmptyOrOurs(p: string, nonce: string): void {
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) {
    if (fs.readdirSync(p).length === 0) fs.rmdirSync(p);
  } else {
    removeIfOurs(p, nonce);
  }
}

/**
 * Where the fixtures outside the workspace go. On Linux beside the state folder, since the sandbox hides the state
 * folder itself (fixtures must be visible), but never under the host's /tmp, which the sandbox replaces with its
 * private temp (the probe would find nothing there and prove nothing): /var/tmp then. Elsewhere in the state folder.
 */
export function outsideFixtureBase(stateDir: string): string {
  if (process.platform !== 'linux') return path.join(stateDir, 'verify-');
  const real = fs.realpathSync.native(stateDir);
  if (isWithin('linux', '/tmp', real) && fs.existsSync('/var/tmp')) return '/var/tmp/agent-sandbox-verify-out-';
  return `${stateDir}-verify-`;
}
