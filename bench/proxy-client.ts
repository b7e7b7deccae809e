/**
 * Runs INSIDE the sandbox for `npm run bench`: times connection set-up (connect, then one byte echoed) and bulk
 * throughput (bytes sent until the sink acknowledges them), either through the allowlist proxy named by the
 * sandbox's HTTPS_PROXY (CONNECT) or directly to the host listener (online mode). Prints one JSON line.
 * Usage: node proxy-client.js proxy|direct HOST PORT ROUNDS MIB
 */
import * as net from 'node:net';

const [mode, host, portText, roundsText, mibText] = process.argv.slice(2);
const port = Number(portText);

function open(): Promise<net.Socket> {
  if (mode === 'direct') {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(s));
      s.once('error', reject);
    });
  }
  const p = new URL(process.env.HTTPS_PROXY ?? '');
  const auth = Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString('base64');
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(p.port), p.hostname, () =>
      s.write(
        `CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`,
      ),
    );
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 200')) return reject(new Error(head.split('\r\n')[0]));
      resolve(s);
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

async function echoOnce(): Promise<number> {
  const t0 = performance.now();
  const s = await open();
  await new Promise<void>((resolve) => {
    s.once('data', () => resolve());
    s.write('e');
  });
  const ms = performance.now() - t0;
  s.destroy();
  return ms;
}

async function bulk(mib: number): Promise<number> {
  const s = await open();
  const chunk = Buffer.alloc(64 * 1024, 1);
  const total = mib * 1024 * 1024;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    s.write('b');
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
    };
    s.on('data', (d) => {
      if (d.includes(0x21)) resolve(); // the sink's "!" after the last byte
    });
    pump();
  });
  const ms = performance.now() - t0;
  s.destroy();
  return ms;
}

async function main(): Promise<void> {
  const connectMs: number[] = [];
  for (let i = 0; i < Number(roundsText); i++) connectMs.push(await echoOnce());
  const bulkMs = await bulk(Number(mibText));
  process.stdout.write(JSON.stringify({ connectMs, bulkMs }) + '\n');
}

main().catch((e: Error) => {
  process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
  process.exitCode = 1;
});
