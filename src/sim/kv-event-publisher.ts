import * as zmq from 'zeromq';
import { encode } from '@msgpack/msgpack';
import type { KvEvent, KvEventBatch } from '../engine/types.js';
import type { Logger } from '../shared/logger.js';
import { hostUrl } from '../shared/host-port.js';
import { zmqIPv6 } from '../shared/zmq-ipv6.js';

const END_SEQ = Buffer.alloc(8, 0xff);
const REPLAY_BUFFER = 10_000;

/**
 * vLLM's rule (vllm/distributed/kv_events.py): bind when the endpoint contains `*`, `::` or
 * `0.0.0.0` (so `tcp://[::]:5557` and `tcp://[::1]:5557` bind) or the transport is ipc/inproc;
 * otherwise connect.
 */
export function zmqShouldBind(endpoint: string): boolean {
  return endpoint.includes('*') || endpoint.includes('::') || endpoint.includes('0.0.0.0') || endpoint.startsWith('ipc://') || endpoint.startsWith('inproc://');
}

/**
 * A wildcard endpoint (`tcp://*:port`) narrowed to the address an HTTP server listens on, so the
 * KV-event sockets are reachable exactly where the HTTP API is: `kvgate sim --host 127.0.0.1`
 * (the default) and `kvgate up` used to serve HTTP on loopback and KV events on every interface.
 * `0.0.0.0` gives `tcp://0.0.0.0:port` (every IPv4 interface, as HTTP); `::` keeps `tcp://*:port`
 * (every interface, IPv4 and IPv6, as Node's `::`); an IPv6 address goes in brackets. Anything
 * but a TCP wildcard (an address, ipc://, inproc://) is returned unchanged.
 */
export function narrowWildcard(endpoint: string, httpAddress: string): string {
  const m = /^tcp:\/\/\*:(\d+)$/.exec(endpoint);
  if (!m || httpAddress === '::') return endpoint;
  return hostUrl('tcp', httpAddress, m[1]);
}

function encodeEvent(e: KvEvent, format: 'array' | 'map'): unknown {
  if (format === 'map') {
    switch (e.type) {
      case 'BlockStored':
        return {
          type: 'BlockStored',
          block_hashes: e.blockHashes,
          parent_block_hash: e.parentBlockHash,
          token_ids: e.tokenIds,
          block_size: e.blockSize,
          lora_id: e.loraId,
          medium: e.medium,
          lora_name: e.loraName,
        };
      case 'BlockRemoved':
        return { type: 'BlockRemoved', block_hashes: e.blockHashes, medium: e.medium };
      default:
        return { type: 'AllBlocksCleared' };
    }
  }
  switch (e.type) {
    case 'BlockStored':
      return ['BlockStored', e.blockHashes, e.parentBlockHash, e.tokenIds, e.blockSize, e.loraId, e.medium, e.loraName];
    case 'BlockRemoved':
      return ['BlockRemoved', e.blockHashes, e.medium];
    default:
      return ['AllBlocksCleared'];
  }
}

/** msgpack EventBatch as vLLM sends it: positional [ts, events, data_parallel_rank]. */
export function encodeBatch(batch: KvEventBatch, format: 'array' | 'map', dataParallelRank = 0): Uint8Array {
  return encode([batch.ts, batch.events.map((e) => encodeEvent(e, format)), dataParallelRank], { useBigInt64: true });
}

/**
 * vLLM offsets KV-event (and replay) endpoints by the data-parallel rank: a TCP port grows by
 * the rank, an ipc/inproc path gets a `_dp{rank}` suffix (vllm/config/kv_events.py).
 */
export function offsetEndpoint(endpoint: string, rank: number): string {
  if (rank === 0) return endpoint;
  const m = /^(tcp:\/\/.*:)(\d+)$/.exec(endpoint);
  if (m) return `${m[1]}${Number(m[2]) + rank}`;
  return `${endpoint}_dp${rank}`;
}

/**
 * Publishes KV events over ZMQ exactly as vLLM: multipart [topic, seq (u64 BE), payload],
 * one batch per engine step, with an optional ROUTER replay socket over the last 10,000 batches.
 */
export class KvEventPublisher {
  private readonly pub: zmq.Publisher;
  private replay?: zmq.Router;
  private seq = 0n;
  private readonly buffer: { seq: Buffer; payload: Uint8Array }[] = [];
  private sending: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly opts: {
      endpoint: string;
      topic: string;
      format: 'array' | 'map';
      replayEndpoint?: string;
      /**
       * Bind `endpoint` even though it names an address, where vLLM's rule (zmqShouldBind) would
       * connect: a wildcard narrowed to the HTTP address (narrowWildcard) still binds.
       */
      bind?: boolean;
      logger: Logger;
      /** Carried in every batch (vLLM's data_parallel_rank). */
      dataParallelRank?: number;
      /** Batches kept for replay (vLLM's buffer_steps, 10,000). */
      replayBufferSize?: number;
      /** Split a step's events into batches of at most this many (llm-d-inference-sim's event-batch-size). */
      maxEventsPerBatch?: number;
    },
  ) {
    // IPv6 endpoints need ZeroMQ's IPv6 option (see zmqIPv6); `tcp://*:port` becomes dual-stack.
    this.pub = new zmq.Publisher({ sendHighWaterMark: 100_000, ipv6: zmqIPv6(opts.endpoint) });
  }

  /** The topic the batches go out on. */
  get topic(): string {
    return this.opts.topic;
  }

  async start(): Promise<void> {
    if (this.opts.bind || zmqShouldBind(this.opts.endpoint)) await this.pub.bind(this.opts.endpoint);
    else this.pub.connect(this.opts.endpoint);
    if (this.opts.replayEndpoint) {
      this.replay = new zmq.Router({ ipv6: zmqIPv6(this.opts.replayEndpoint) });
      await this.replay.bind(this.opts.replayEndpoint);
      void this.serveReplay(this.replay);
    }
  }

  publish(batch: KvEventBatch): void {
    if (this.closed) return;
    const max = this.opts.maxEventsPerBatch;
    if (max && batch.events.length > max) {
      for (let i = 0; i < batch.events.length; i += max) this.publish({ ts: batch.ts, events: batch.events.slice(i, i + max) });
      return;
    }
    const seq = Buffer.alloc(8);
    seq.writeBigUInt64BE(this.seq++);
    const payload = encodeBatch(batch, this.opts.format, this.opts.dataParallelRank ?? 0);
    this.buffer.push({ seq, payload });
    if (this.buffer.length > (this.opts.replayBufferSize ?? REPLAY_BUFFER)) this.buffer.shift();
    // zeromq 6 allows one send in flight per socket: chain them in order.
    this.sending = this.sending
      .then(() => (this.closed ? undefined : this.pub.send([this.opts.topic, seq, payload])))
      .catch((err) => this.opts.logger.warn({ err: (err as Error).message }, 'kv event publish failed'));
  }

  private async serveReplay(sock: zmq.Router): Promise<void> {
    try {
      for await (const frames of sock) {
        const [identity, , start] = frames;
        const from = start && start.length === 8 ? start.readBigUInt64BE() : 0n;
        for (const b of this.buffer) {
          if (b.seq.readBigUInt64BE() >= from) await sock.send([identity, '', b.seq, b.payload]);
        }
        await sock.send([identity, '', END_SEQ, '']);
      }
    } catch (err) {
      if (!this.closed) this.opts.logger.warn({ err: (err as Error).message }, 'kv event replay socket failed');
    }
  }

  async close(): Promise<void> {
    await this.sending;
    this.closed = true;
    this.pub.close();
    this.replay?.close();
  }
}
