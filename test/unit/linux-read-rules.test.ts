// Which folders get Landlock's read default-deny (new entries unreadable) for a list of credential locations: every
// folder leading to a location's parent, `/` included, on real paths; none for a location a writable path or
// another location already covers. The rules' effect is tested end to end in test/native/linux/late-secrets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readChains } from '../../native-bindings/linux/read-rules';

test('read chains: the folders leading to each location, on real paths; locations under a writable path or another location left out', () => {
  const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'as-chains-')));
  try {
    const home = path.join(base, 'home');
    fs.mkdirSync(path.join(home, '.config'), { recursive: true });
    fs.mkdirSync(path.join(base, 'elsewhere'));
    fs.symlinkSync(path.join(base, 'elsewhere'), path.join(home, '.cache'));
    const ws = path.join(home, 'ws');
    const { locations, chains } = readChains(
      [
        path.join(home, '.aws'),
        path.join(home, '.config', 'gcloud'),
        path.join(home, '.config', 'gcloud', 'inner'), // inside another location
        path.join(home, '.cache', 'git', 'credential'), // through a link: its real path
        path.join(home, '.cargo', 'credentials.toml'), // under a missing folder
        path.join(ws, '.npmrc'), // under a writable path
      ],
      [ws, '/dev'],
    );
    assert.deepEqual(locations.sort(), [
      path.join(base, 'elsewhere', 'git', 'credential'),
      path.join(home, '.aws'),
      path.join(home, '.cargo', 'credentials.toml'),
      path.join(home, '.config', 'gcloud'),
    ]);
    const ancestors = (p: string): string[] => (p === '/' ? ['/'] : [p, ...ancestors(path.dirname(p))]);
    assert.deepEqual(
      chains,
      [
        ...new Set([
          ...ancestors(home),
          path.join(home, '.config'),
          path.join(home, '.cargo'),
          ...ancestors(path.join(base, 'elsewhere', 'git')),
        ]),
      ].sort(),
    );
    assert.deepEqual(readChains([], ['/dev']), { locations: [], chains: [] }, 'nothing to hide: reads not handled');
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
