/**
 * Linux sandbox, credential locations that do not exist yet (issue 12 §1): a `denyRead` entry missing when the plan
 * was made (`~/.aws` before the first `aws configure`) cannot be hidden by a mount, so the guard watches for it
 * (its folder, or while that is missing too, the nearest existing ancestor) and stops the sandbox when it appears;
 * a later sandbox started from the same plan (a broker restarted after that stop, a plan kept between commands)
 * hides it at launch. Judged by what the sandbox printed, in a test home, for each kind of entry: a folder, a file,
 * and each of them under a parent folder that is missing too. Controls: the guard off (the running sandbox reads
 * the secret), and the entry left out of the plan (the next sandbox reads it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { compilePlan, type LinuxPlan } from '../../../src/policy';
import { hostContext } from '../../../src/sandbox/host';
import { createLinuxBackend } from '../../../src/sandbox/linux';
import { MountGuard } from '../../../src/sandbox/linux/guard';
import type { SandboxBackend } from '../../../src/sandbox/types';
import { coldBackend, hostDir, run, sh, STATE_DIR, tempDir, type Result } from './helpers';

const cold = coldBackend();
after(() => cold.dispose());

/** Entries of the default denyRead, by kind: where the secret is written, relative to the home. */
const KINDS: { kind: string; entry: string; secret: string }[] = [
  { kind: 'a folder', entry: '.aws', secret: '.aws/credentials' },
  { kind: 'a file', entry: '.npmrc', secret: '.npmrc' },
  { kind: 'a folder whose parent is missing too', entry: '.config/gcloud', secret: '.config/gcloud/credentials.db' },
  {
    kind: 'a file whose parent is missing too',
    entry: '.terraform.d/credentials.tfrc.json',
    secret: '.terraform.d/credentials.tfrc.json',
  },
];

const TRIGGER = '.as-host-wrote';

function homePlan(home: string): LinuxPlan {
  const p = compilePlan(
    { workspaceRoots: [tempDir('as-late-secret-ws-')] },
    hostContext({ platform: 'linux', stateDir: STATE_DIR, home, env: { ...process.env, HOME: home } }),
  );
  if (p.platform !== 'linux') throw new Error('expected a linux plan');
  return p;
}

/** The host writes the secret from another process, as `aws configure` would: folders and file in one go. */
function hostWrites(file: string): Promise<void> {
  return new Promise((resolve, reject) =>
    spawn('sh', ['-c', 'mkdir -p "$(dirname "$0")" && printf "SECRET-%s\\n" "$$" > "$0"', file])
      .on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`host write failed: ${code}`))))
      .on('error', reject),
  );
}

/**
 * A command that waits for the host's trigger, then 300 ms (past the guard's reaction, as the whole-life tests
 * do), then reads `file` every 20 ms for 1 s, printing what it read.
 */
const reader = (file: string) =>
  sh(
    `while [ ! -e ${TRIGGER} ]; do sleep 0.01; done; sleep 0.3; ` +
      `i=0; while [ $i -lt 50 ]; do cat '${file}' 2>/dev/null; sleep 0.02; i=$((i+1)); done; echo done`,
  );

async function midRun(b: SandboxBackend, p: LinuxPlan, file: string): Promise<Result> {
  const pending = run(b, p, reader(file));
  await new Promise((r) => setTimeout(r, 800));
  await hostWrites(file);
  fs.writeFileSync(path.join(p.workspaceRoots[0], TRIGGER), '');
  return pending;
}

async function withoutGuard<T>(fn: () => Promise<T>): Promise<T> {
  const changed = Object.getOwnPropertyDescriptor(MountGuard.prototype, 'changed')!;
  MountGuard.prototype.changed = () => undefined;
  try {
    return await fn();
  } finally {
    Object.defineProperty(MountGuard.prototype, 'changed', changed);
  }
}

describe('linux sandbox: a credential location created on the host while a sandbox runs', () => {
  for (const mode of ['cold', 'broker'] as const) {
    for (const { kind, entry, secret } of KINDS) {
      it(`${mode}, ${kind} (~/${entry}): the running sandbox is stopped before it reads the secret, and the next sandbox of the same plan cannot read it (controls: guard off, entry not in the plan)`, async () => {
        const b = mode === 'cold' ? cold : createLinuxBackend({ stateDir: STATE_DIR, broker: true });
        try {
          const home = hostDir('as-late-home-');
          const p = homePlan(home);
          const file = path.join(home, secret);
          assert.ok(p.denyRead.includes(path.join(home, entry)), `~/${entry} is in the default denyRead`);
          assert.ok(!fs.existsSync(path.join(home, entry.split('/')[0])), 'missing when the plan was made');

          const r = await midRun(b, p, file);
          assert.doesNotMatch(r.stdout, /SECRET/, 'the running sandbox read the new secret');
          assert.equal(r.code, 125, `${r.stdout} ${r.stderr}`);
          assert.match(r.stopped ?? '', new RegExp(`${path.join(home, entry)} was replaced on the host`));

          const next = await run(b, p, sh(`cat '${file}'; echo done`));
          assert.doesNotMatch(next.stdout, /SECRET/, 'a later sandbox of the same plan read it');
          assert.match(next.stdout, /done/, `${next.stdout} ${next.stderr} ${next.stopped}`);
          const shown = { ...p, denyRead: p.denyRead.filter((d) => d !== path.join(home, entry)) };
          const c = await run(b, shown, sh(`cat '${file}'`));
          assert.match(c.stdout, /SECRET/, `control: with the entry out of the plan it is read (${c.stderr})`);

          const home2 = hostDir('as-late-home-');
          const p2 = homePlan(home2);
          const c2 = await withoutGuard(() => midRun(b, p2, path.join(home2, secret)));
          assert.match(c2.stdout, /SECRET/, `control: without the guard the running sandbox reads it (${c2.stderr})`);
        } finally {
          if (b !== cold) await b.dispose();
        }
      });
    }
  }
});
