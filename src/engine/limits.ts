/**
 * What the engine model can allocate. A BlockPool allocates its per-block tables up front: an
 * Int32 ref count, two Uint32 hash halves, a Float64 key, Int32 prev/next links and a Uint8 flag
 * — 29 bytes a block, off the JS heap — and walks every block once to build its free list. So a
 * KV cache of 1e10 blocks is a 290 GB allocation (a RangeError from the typed array), and
 * 100,000 replicas of a 65,536-block profile never finish building. The limits below keep one
 * engine under ~2 GB and a whole `kvgate simulate` fleet under ~4 GB and a few seconds to build.
 */

/** Bytes the engine model allocates per KV block (block-pool.ts's typed arrays). */
export const KV_BLOCK_BYTES = 29;

/** Largest KV cache of one engine, in blocks: 2^26 (67,108,864 blocks, ~1.9 GB of block tables). */
export const MAX_KV_BLOCKS = 2 ** 26;

/** Most replicas one `kvgate simulate` fleet (or `simulate plan --max-replicas`) models. */
export const MAX_REPLICAS = 4096;

/**
 * Most replicas one `kvgate up` starts: 128. Unlike `simulate`'s modelled replicas these are real
 * servers in the one process, each with an HTTP listener, a KV-event publisher and replay socket,
 * and the gateway's subscriber and replay dealer for it: 4 ZeroMQ sockets against ZeroMQ's default
 * of 1,023 a context, so 255 is the ceiling (256 ended in "Too many open file descriptors") and
 * 128 leaves room for replay retries. 128 replicas hold ~1,800 file descriptors (~14 each),
 * under a 4,096 hard limit, and start in seconds.
 */
export const MAX_UP_REPLICAS = 128;

/** Most KV blocks over a whole simulated fleet: 2^27 (134,217,728 blocks, ~3.9 GB of block tables). */
export const MAX_FLEET_KV_BLOCKS = 2 ** 27;

/** "67,108,864 blocks (2^26, ~1.9 GB of block tables)": a limit as error messages and docs state it. */
export function describeBlockLimit(blocks: number): string {
  return `${blocks.toLocaleString('en-US')} blocks (2^${Math.log2(blocks)}, ~${((blocks * KV_BLOCK_BYTES) / 1e9).toFixed(1)} GB of block tables at ${KV_BLOCK_BYTES} bytes a block)`;
}
