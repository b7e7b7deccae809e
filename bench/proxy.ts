/**
 * The network allowlist's cost, in one run: connection set-up latency and bulk throughput through the proxy (the
 * sandbox's relay, the host proxy's CONNECT, the host listener) against a direct connection to the same listener
 * from an online sandbox. Both clients run inside the real sandbox, brokered. Asserts nothing; it measures.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { compilePlan, type Plan, type Platform } from '../src/policy';
import { configureSharedProxy } from '../src/network/shared';
import { backendFor } from '../src/sandbox';
import { hostContext } from '../src/sandbox/host';
import { summarize, type Summary } from './stats';

export interface ProxyResults {
  rounds: number;
  mib: number;
  proxied?: { connect: Summary; mbPerS: number };
  direct?: { connect: Summary; mbPerS: number };
  error?: string;
}

const HOST = 'bench.agent-sandbox.test';

/** A listener that echoes "e" and, for a "b" stream, answers "!" once `total` bytes arrived. */
function sink(total: number): Promise<{ port: number; close(): void }> {
  const server = net.createServer((s) => {
    let bulk = -1;
    s.on('data', (d: Buffer) => {
      if (bulk === -1 && d[0] === 0x65) return void s.write('e');
      if (bulk === -1) {
        bulk = 0;
        d = d.subarray(1);
      }
      bulk += d.length;
      if (bulk >= total) s.write('!');
    });
    s.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ port: (server.address() as net.AddressInfo).port, close: () => server.close() }),
    ),
  );
}

export async function measureProxy(
  platform: Platform,
  ws: string,
  stateDir: string,
  rounds: number,
  mib = 64,
): Promise<ProxyResults> {
  if (platform !== 'linux') return { rounds, mib, error: 'the allowlist proxy is run on Linux only so far' };
  configureSharedProxy({ resolver: async () => [{ address: '127.0.0.1', family: 4, pinned: true }] });
  const listener = await sink(mib * 1024 * 1024);
  try {
    const backend = await backendFor(platform, { stateDir, broker: true });
    const client = path.join(__dirname, 'proxy-client.js');
    const plan = (network: 'allowlist' | 'online'): Plan =>
      compilePlan(
        { workspaceRoots: [ws], network, ...(network === 'allowlist' ? { allowedDomains: [HOST] } : {}) },
        hostContext({ platform, stateDir }),
      );
    const one = async (network: 'allowlist' | 'online') => {
      const mode = network === 'allowlist' ? 'proxy' : 'direct';
      const target = network === 'allowlist' ? HOST : '127.0.0.1';
      const proc = await backend.spawn(plan(network), {
        argv: [process.execPath, client, mode, target, String(listener.port), String(rounds), String(mib)],
        cwd: ws,
        stdio: 'pipe',
      });
      proc.stdin?.end();
      let out = '';
      proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr?.resume();
      await proc.exited;
      const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
        connectMs?: number[];
        bulkMs?: number;
        error?: string;
      };
      if (!r.connectMs || r.bulkMs === undefined) throw new Error(`${mode}: ${r.error ?? out}`);
      return { connect: summarize(r.connectMs.slice(3)), mbPerS: (mib * 1.048576) / (r.bulkMs / 1000) };
    };
    return { rounds, mib, direct: await one('online'), proxied: await one('allowlist') };
  } catch (e) {
    return { rounds, mib, error: (e as Error).message };
  } finally {
    listener.close();
    configureSharedProxy({});
  }
}
