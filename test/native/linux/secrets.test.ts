/**
 * Linux sandbox, secrets by default: the default `denyRead` hides credential files, history, keyrings and browser
 * profiles (checked in a fake home, with a control file that stays readable), and real tools still work under that
 * default in this machine's real home (git, npm, node, python, make, and pip/cargo/go when installed; a missing
 * tool is skipped and says so). Also the default env scrubbing, seen from inside.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { compilePlan, DEFAULT_DENY_READ, type LinuxPlan } from '../../../src/policy';
import { hostContext } from '../../../src/sandbox/host';
import { coldBackend, hostDir, plan, run, sh, STATE_DIR, tempDir } from './helpers';

const backend = coldBackend();
after(() => backend.dispose());

const onPath = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

describe('linux sandbox: the default denyRead hides secrets in the home folder', () => {
  it('each credential, history, keyring and browser entry is unreadable; an ordinary file in the home stays readable', async () => {
    const home = hostDir('as-home-');
    const entries = DEFAULT_DENY_READ.filter((e) => e.startsWith('~/')).map((e) => path.join(home, e.slice(2)));
    for (const [i, p] of entries.entries()) {
      // folders get a file inside; files are files
      const isDir =
        !path.basename(p).includes('.') ||
        /\/\.(ssh|aws|azure|kube|docker|gnupg|oci|1password|pki|mozilla|thunderbird|password-store)$/.test(p) ||
        /keyrings|gcloud|\/gh$|credential$|chrome|chromium|Brave|edge|doctl|rclone|hub$|glab-cli|\/op$/.test(p);
      fs.mkdirSync(isDir ? p : path.dirname(p), { recursive: true });
      fs.writeFileSync(isDir ? path.join(p, 'secret') : p, `SECRET-${i}`);
    }
    fs.writeFileSync(path.join(home, '.profile'), 'PUBLIC-PROFILE');
    const p = compilePlan(
      { workspaceRoots: [tempDir('as-ws-')] },
      hostContext({ platform: 'linux', stateDir: STATE_DIR, home, env: { ...process.env, HOME: home } }),
    ) as LinuxPlan;
    const r = await run(
      backend,
      p,
      sh(`cat '${home}/.profile'; find '${home}' -type f -exec cat {} + 2>/dev/null; true`),
    );
    assert.match(r.stdout, /PUBLIC-PROFILE/, 'control: the home folder itself is readable');
    assert.doesNotMatch(
      r.stdout,
      /SECRET-\d+/,
      `a secret leaked: ${r.stdout
        .match(/SECRET-\d+/g)
        ?.map((s) => entries[+s.slice(7)])
        .join(', ')}`,
    );
    assert.ok(entries.length >= 40, 'the list is long');
  });
});

describe("linux sandbox: real tools still work under the default denyRead (this machine's real home)", () => {
  const tools: [string, string, RegExp][] = [
    [
      'git',
      'git init -q t && cd t && git -c user.name=a -c user.email=b@c commit -q --allow-empty -m x && git log --format=%s',
      /^x$/m,
    ],
    [
      'npm',
      `printf '{"name":"x","version":"1.0.0","scripts":{"t":"echo npm-ok"}}' > package.json && npm run -s t`,
      /npm-ok/,
    ],
    ['node', `node -e "console.log('node-ok', require('os').homedir() === process.env.HOME)"`, /node-ok true/],
    ['python3', `python3 -c "import json, ssl, sqlite3; print('py-ok')"`, /py-ok/],
    ['make', `printf 'all:\\n\\t@echo make-ok\\n' > Makefile && make`, /make-ok/],
    ['pip', 'pip --version', /^pip \d/m],
    ['cargo', 'cargo new -q --vcs none c && cd c && cargo build -q --offline && ./target/debug/c', /Hello, world!/],
    [
      'go',
      `printf 'package main\\nimport "fmt"\\nfunc main(){fmt.Println("go-ok")}\\n' > m.go && GOFLAGS=-mod=mod go run m.go`,
      /go-ok/,
    ],
  ];
  for (const [tool, script, expected] of tools) {
    it(`${tool} works`, { skip: !onPath(tool) && `${tool} is not installed on this machine` }, async () => {
      const p = plan({ workspaceRoots: [tempDir('as-ws-')] });
      assert.ok(
        p.denyRead.includes(path.join(os.homedir(), '.ssh')) || !fs.existsSync(path.join(os.homedir(), '.ssh')),
      );
      const r = await run(backend, p, sh(script));
      assert.equal(r.code, 0, `${tool}: ${r.stderr}`);
      assert.match(r.stdout, expected);
    });
  }
});

describe('linux sandbox: default env scrubbing seen from inside', () => {
  it('password-bearing names and values and host-socket variables are gone; ordinary ones and the allowlist stay', async () => {
    const added = {
      DATABASE_URL: 'postgres://u:p@db/x',
      HTTPS_PROXY: 'http://me:hunter2@proxy:3128',
      'npm_config_//registry.npmjs.org/:_authToken': 'tok',
      MY_PASSPHRASE: 'x',
      TMUX: '/tmp/tmux-0/default,1,0',
      STY: '1.pts',
      XDG_SESSION_TYPE: 'tty',
      PLAIN_VALUE: 'kept',
    };
    // The backend passes the caller's (this process's) environment, minus what the plan removes.
    const saved = { ...process.env };
    Object.assign(process.env, added);
    let r;
    let all;
    try {
      r = await run(backend, plan({ workspaceRoots: [tempDir('as-ws-')] }, { ...process.env }), ['env']);
      all = await run(
        backend,
        plan({ workspaceRoots: [tempDir('as-ws-')], env: { allow: ['*'] } }, { ...process.env }),
        ['env'],
      );
    } finally {
      for (const k of Object.keys(added)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    for (const gone of [
      'DATABASE_URL',
      'HTTPS_PROXY',
      'npm_config_//registry.npmjs.org/:_authToken',
      'MY_PASSPHRASE',
      'TMUX',
      'STY',
    ]) {
      assert.ok(!r.stdout.split('\n').some((l) => l.startsWith(`${gone}=`)), `${gone} reached the sandbox`);
    }
    assert.match(r.stdout, /^XDG_SESSION_TYPE=tty$/m);
    assert.match(r.stdout, /^PLAIN_VALUE=kept$/m, 'control: an ordinary variable passes');
    for (const k of Object.keys(added))
      assert.ok(all.stdout.includes(`${k}=`), `control: with allow ["*"], ${k} does reach the sandbox`);
  });
});
