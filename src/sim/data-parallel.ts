import { startSimServer, type RunningSim } from './server.js';
import { offsetEndpoint } from './kv-event-publisher.js';
import type { SimOptionsInput } from './options.js';
import type { Logger } from '../shared/logger.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';

/**
 * Starts `dataParallelSize` ranks in this process, as llm-d-inference-sim does: rank i serves on
 * port + i (ephemeral ports stay ephemeral) and publishes KV events on the endpoint's port + i
 * (ipc paths get `_dp{i}`, vLLM's rule), each batch carrying data_parallel_rank i. A single
 * `dataParallelRank` R instead runs one server whose KV endpoints are offset by R, as vLLM offsets them.
 */
export async function startSimRanks(
  opts: Omit<SimOptionsInput, 'dataParallelRank'>,
  dp: { dataParallelSize?: number; dataParallelRank?: number } = {},
  deps: { logger?: Logger } = {},
): Promise<RunningSim[]> {
  const size = dp.dataParallelSize ?? 1;
  if (!Number.isInteger(size) || size < 1 || size > 8) throw new KvgateError(ErrorCode.InvalidConfig, 'invalid --data-parallel-size: data parallel size must be between 1 and 8', { param: 'data-parallel-size' });
  if (dp.dataParallelRank !== undefined && (!Number.isInteger(dp.dataParallelRank) || dp.dataParallelRank < 0 || dp.dataParallelRank > 7)) {
    throw new KvgateError(ErrorCode.InvalidConfig, 'invalid --data-parallel-rank: data parallel rank must be between 0 and 7', { param: 'data-parallel-rank' });
  }
  const ranks = dp.dataParallelRank !== undefined ? [dp.dataParallelRank] : Array.from({ length: size }, (_, i) => i);
  const single = dp.dataParallelRank !== undefined;
  const sims: RunningSim[] = [];
  try {
    for (const [i, rank] of ranks.entries()) {
      const port = opts.port === undefined ? 8000 + i : opts.port === 0 ? 0 : opts.port + (single ? 0 : i);
      sims.push(
        await startSimServer(
          {
            ...opts,
            port,
            dataParallelRank: rank,
            kvEventsEndpoint: opts.kvEventsEndpoint ? offsetEndpoint(opts.kvEventsEndpoint, rank) : undefined,
            kvEventsReplayEndpoint: opts.kvEventsReplayEndpoint ? offsetEndpoint(opts.kvEventsReplayEndpoint, rank) : undefined,
          },
          deps,
        ),
      );
    }
  } catch (err) {
    await Promise.all(sims.map((s) => s.close()));
    throw err;
  }
  return sims;
}
