import { startSimServer, type RunningSim } from './server.js';
import type { SimOptionsInput } from './options.js';
import type { Logger } from '../shared/logger.js';

export interface SimFleetOptions extends Omit<SimOptionsInput, 'port' | 'kvEventsEndpoint' | 'kvEventsTopic'> {
  replicas: number;
  /** First replica's port; replica i uses basePort + i. 0 = ephemeral ports for all. */
  basePort: number;
  /** First KV-events port (replica i publishes on kvEventsBasePort + i); undefined = no KV events. */
  kvEventsBasePort?: number;
}

export interface RunningSimFleet {
  replicas: RunningSim[];
  close(): Promise<void>;
}

/** Starts N simulated replicas in this process (what `kvgate up` runs behind the gateway). */
export async function startSimFleet(opts: SimFleetOptions, deps: { logger?: Logger } = {}): Promise<RunningSimFleet> {
  const { replicas: n, basePort, kvEventsBasePort, ...simOpts } = opts;
  const replicas: RunningSim[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const port = basePort === 0 ? 0 : basePort + i;
      const host = simOpts.host ?? '127.0.0.1';
      replicas.push(
        await startSimServer(
          {
            ...simOpts,
            port,
            seed: (simOpts.seed ?? 0) + i,
            // vLLM's convention: a wildcard host binds (the router subscribes by connecting).
            kvEventsEndpoint: kvEventsBasePort !== undefined ? `tcp://*:${kvEventsBasePort + i}` : undefined,
            kvEventsTopic: `kv@${host}:${port}@${simOpts.model ?? 'Qwen/Qwen2.5-3B-Instruct'}`,
          },
          deps,
        ),
      );
    }
  } catch (err) {
    await Promise.all(replicas.map((r) => r.close()));
    throw err;
  }
  return { replicas, close: async () => void (await Promise.all(replicas.map((r) => r.close()))) };
}
