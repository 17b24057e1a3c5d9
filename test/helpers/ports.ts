import { createServer, type Server } from 'node:net';

/** A TCP port that was free on 127.0.0.1 a moment ago (tests run in parallel: never hard-code ports). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `count` consecutive TCP ports that were free on all interfaces a moment ago (ZeroMQ's
 * tcp://*:PORT binds there), for flags that take a base port and count up from it. Drawn below
 * Linux's ephemeral range (32768+), where the OS hands out other tests' free ports.
 */
export async function freePortRange(count: number): Promise<number> {
  const listen = (port: number) =>
    new Promise<Server | undefined>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(undefined));
      srv.listen(port, '0.0.0.0', () => resolve(srv));
    });
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    const held: Server[] = [];
    for (let p = base; p < base + count; p++) {
      const srv = await listen(p);
      if (!srv) break;
      held.push(srv);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (held.length === count) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
