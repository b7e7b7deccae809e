/**
 * The allowlist relay, run by the Linux runner inside the sandbox's private network namespace: it listens on
 * loopback ports (127.0.0.1 and, where the namespace has it, ::1) and pipes each connection, byte for byte, to the
 * proxy gateway's Unix socket bound into the sandbox. It must listen before Landlock forbids TCP bind; commands
 * inherit neither its sockets (close-on-exec) nor any way to bind their own.
 * It judges nothing: the proxy on the host checks every credential and destination.
 */
import * as net from 'node:net';
import type { RelaySpec } from '../../protocol/linux';

function pipeTo(socketPath: string) {
  return (client: net.Socket) => {
    const upstream = net.connect(socketPath);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.pipe(upstream).pipe(client);
  };
}

function listenOn(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Starts every listener; resolves with notes for the report. Throws when the IPv4 listener cannot start. */
export async function startRelay(spec: RelaySpec): Promise<string[]> {
  const notes: string[] = [];
  for (const { port, socket } of spec.listen) {
    await listenOn(net.createServer(pipeTo(socket)), spec.host, port);
    try {
      await listenOn(net.createServer(pipeTo(socket)), '::1', port);
      notes.push(`proxy relay: ${spec.host}:${port} and [::1]:${port} -> ${socket}`);
    } catch (e) {
      notes.push(
        `proxy relay: ${spec.host}:${port} -> ${socket} (no [::1]: ${(e as NodeJS.ErrnoException).code ?? e})`,
      );
    }
  }
  return notes;
}
