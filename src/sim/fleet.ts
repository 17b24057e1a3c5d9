import { createServer } from 'node:net';
import { startSimServer, type RunningSim } from './server.js';
import type { SimOptionsInput } from './options.js';
import type { Logger } from '../shared/logger.js';
import { ErrorCode, KvgateError } from '../shared/errors.js';
import { formatHostPort } from '../shared/host-port.js';
import { MAX_UP_REPLICAS } from '../engine/limits.js';

export interface SimFleetOptions extends Omit<SimOptionsInput, 'port' | 'kvEventsEndpoint' | 'kvEventsTopic' | 'kvEventsReplayEndpoint' | 'kvEventsBindHttpHost'> {
  replicas: number;
  /** First replica's port; replica i uses basePort + i. 0 = ephemeral ports for all. */
  basePort: number;
  /**
   * First KV-events port: replica i publishes on kvEventsBasePort + i and replays on
   * kvEventsBasePort + replicas + i. 0 = free ports picked for each; undefined = no KV events.
   */
  kvEventsBasePort?: number;
}

/** One replica's KV-event ports (vLLM's endpoint and replay_endpoint, bound on the replicas' host). */
export interface SimKvEventPorts {
  port: number;
  replayPort: number;
}

export interface RunningSimFleet {
  replicas: RunningSim[];
  /** Per replica, when the fleet publishes KV events. */
  kvEvents?: SimKvEventPorts[];
  close(): Promise<void>;
}

/** A TCP port free on all interfaces a moment ago (ZeroMQ binds by number, so the OS cannot pick it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts N simulated replicas in this process (what `kvgate up` runs behind the gateway). N is an
 * integer from 1 to MAX_UP_REPLICAS (engine/limits.ts: what one process's ZeroMQ sockets hold),
 * checked here for every caller, not only `up`'s flag parser: else an InvalidConfig error
 * (param `replicas`) before any replica starts.
 */
export async function startSimFleet(opts: SimFleetOptions, deps: { logger?: Logger } = {}): Promise<RunningSimFleet> {
  const { replicas: n, basePort, kvEventsBasePort, ...simOpts } = opts;
  if (!Number.isInteger(n) || n < 1 || n > MAX_UP_REPLICAS) {
    throw new KvgateError(ErrorCode.InvalidConfig, `replicas must be an integer from 1 to ${MAX_UP_REPLICAS}, the largest fleet kvgate up starts in one process (got ${n})`, { param: 'replicas' });
  }
  const replicas: RunningSim[] = [];
  const kvEvents: SimKvEventPorts[] | undefined = kvEventsBasePort === undefined ? undefined : [];
  let trying: { port: number; kv?: SimKvEventPorts } = { port: basePort };
  try {
    for (let i = 0; i < n; i++) {
      const port = basePort === 0 ? 0 : basePort + i;
      const host = simOpts.host ?? '127.0.0.1';
      const kv = kvEventsBasePort === undefined ? undefined : kvEventsBasePort === 0 ? { port: await freePort(), replayPort: await freePort() } : { port: kvEventsBasePort + i, replayPort: kvEventsBasePort + n + i };
      if (kv) kvEvents!.push(kv);
      trying = { port, kv };
      replicas.push(
        await startSimServer(
          {
            ...simOpts,
            port,
            seed: (simOpts.seed ?? 0) + i,
            // vLLM's convention: the engine binds, the router subscribes by connecting. The wildcard
            // is narrowed to the host HTTP listens on (kvgate up --host, 127.0.0.1 by default):
            // bound on every interface, the KV events of a loopback fleet were open to the network.
            kvEventsEndpoint: kv ? `tcp://*:${kv.port}` : undefined,
            kvEventsReplayEndpoint: kv ? `tcp://*:${kv.replayPort}` : undefined,
            kvEventsBindHttpHost: { endpoint: true, replay: true },
            kvEventsTopic: `kv@${formatHostPort(host, port)}@${simOpts.model ?? 'Qwen/Qwen2.5-3B-Instruct'}`,
          },
          deps,
        ),
      );
    }
  } catch (err) {
    await Promise.all(replicas.map((r) => r.close()));
    throw nameFleetPortConflict(err, trying);
  }
  return { replicas, kvEvents, close: async () => void (await Promise.all(replicas.map((r) => r.close()))) };
}

/**
 * A replica's port in use, said with the fleet's flags (kvgate up's --sim-base-port and
 * --kv-events-base-port) rather than the single server's --port / --kv-events-endpoint.
 */
function nameFleetPortConflict(err: unknown, trying: { port: number; kv?: SimKvEventPorts }): unknown {
  if (!(err instanceof KvgateError) || (err.cause as NodeJS.ErrnoException | undefined)?.code !== 'EADDRINUSE') return err;
  if (err.param === 'port') {
    return new KvgateError(ErrorCode.InvalidConfig, `--sim-base-port: replica port ${trying.port} is already in use: stop what holds it or give another --sim-base-port (0 = free ports)`, { param: 'sim-base-port', cause: err });
  }
  if (err.param === 'kv-events-endpoint' && trying.kv) {
    return new KvgateError(ErrorCode.InvalidConfig, `--kv-events-base-port: KV-events port ${trying.kv.port} or its replay port ${trying.kv.replayPort} is already in use: stop what holds it or give another --kv-events-base-port (0 = off)`, { param: 'kv-events-base-port', cause: err });
  }
  return err;
}
