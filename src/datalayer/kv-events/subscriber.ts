import * as zmq from 'zeromq';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { decodeBatch, decodeMessage, DecodeErrorCounts, isEndSeq, readSeq, type DecodeError } from './decoder.js';
import type { KvEventBatch } from './events.js';
import { LogOncePerKind } from './log-once.js';
import { parseKvTopic } from './topic.js';
import { zmqIPv6 } from '../../shared/zmq-ipv6.js';

/**
 * Intake of vLLM KV-event streams over ZeroMQ, in both layouts:
 *
 * - **connect** (`addEndpoint`): a SUB socket connects to each engine's PUB socket,
 *   `tcp://<endpoint-host>:<kv-events-port>` (vLLM's `--kv-events-config endpoint tcp://*:5557`
 *   binds there);
 * - **bind** (`bind`): engines publish to the router (llm-d's layout: the router binds
 *   `tcp://*:5557`, vLLM connects with `endpoint tcp://<router>:5557`), each stream identified
 *   by its topic `kv@<pod-address>@<model>` and the batch's data-parallel rank.
 *
 * Sequencing, per stream: vLLM numbers batches 0, 1, 2… (8-byte big-endian frame). A gap asks
 * the engine's replay socket (vLLM's ROUTER: request `["", start_seq]`, replies
 * `[(topic,) seq, payload]` per retained batch, then the end marker seq −1) for the missing
 * range, holding live batches meanwhile; a stream joined late asks for everything retained from
 * 0. A sequence number going backwards, or the publisher's connection dropping and coming back
 * (connect layout), is a new stream (engine restart): the sink resets the endpoint. A gap that cannot be filled (no
 * replay socket, replay timed out, batches already dropped from the engine's buffer) leaves the
 * endpoint `stale` until its state is known again (a restart or AllBlocksCleared).
 *
 * Nothing here blocks the event loop or grows without bound: the receive loops yield to other
 * work every `messagesPerTurn` messages; ZMQ's receive high-water mark bounds each socket's
 * queue (the publisher drops beyond it, and the drop shows up as a gap); batches held during a
 * replay are capped (`maxHeldBatches`, dropped beyond and counted); a replay socket that never
 * answers times out (`replayTimeoutMs`) and is not asked again for `replayBackoffMs`. Every
 * problem is counted in `stats()` and logged once per kind per minute.
 */

export type ResetReason = 'sequence_restart' | 'endpoint_removed' | 'requested';

/** Where decoded batches go, in sequence order per endpoint (the exact prefix index, typically). */
export interface KvEventSink {
  onBatch(endpointId: string, model: string, batch: KvEventBatch): void;
  /** Forget everything held for the endpoint: its engine restarted, or it left the pool. */
  onReset(endpointId: string, reason: ResetReason): void;
}

export interface KvEventEndpoint {
  endpointId: string;
  /** Base model the engine serves (the events do not say). */
  model: string;
  /** The engine's PUB socket, e.g. `tcp://10.0.0.5:5557`. */
  endpoint: string;
  /** The engine's ROUTER replay socket (vLLM `replay_endpoint`), e.g. `tcp://10.0.0.5:5558`. */
  replayEndpoint?: string;
  /** ZMQ subscription prefix; '' (default) takes every topic. */
  topic?: string;
}

/** Who is behind a topic in the bind layout; null drops the stream's messages (counted). */
export type TopicResolver = (t: { address: string; model: string; topic: string; dataParallelRank: number | null }) => { endpointId: string; model: string; replayEndpoint?: string } | null;

export interface KvEventSubscriberOptions {
  sink: KvEventSink;
  logger?: Logger;
  /** Wait for each replay reply before giving up on the replay socket, ms. Default 2000. */
  replayTimeoutMs?: number;
  /** After a failed replay, the stream's gaps are not replayed for this long, ms. Default 10,000. */
  replayBackoffMs?: number;
  /** Live batches held per stream while its replay runs. Default 10,000 (vLLM's replay buffer). */
  maxHeldBatches?: number;
  /** ZMQ receive high-water mark per socket, messages. Default 10,000. */
  receiveHighWaterMark?: number;
  /** Largest accepted ZMQ message, bytes. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Messages handled before yielding to the event loop. Default 64. */
  messagesPerTurn?: number;
  /** Test hook: return true to lose a live message before it is sequenced. */
  dropLive?: (endpointId: string, seq: bigint) => boolean;
}

export interface KvEventSubscriberStats {
  messages: number;
  batches: number;
  events: number;
  decodeErrors: DecodeErrorCounts;
  gaps: number;
  replaysRequested: number;
  replaysCompleted: number;
  replaysFailed: number;
  replayedBatches: number;
  /** Gaps no replay could fill: the endpoint went stale. */
  unrecoverableGaps: number;
  /** Streams joined after their start whose early batches the engine no longer holds. */
  truncatedHistories: number;
  restarts: number;
  dropped: { heldOverflow: number; unknownTopic: number; testHook: number };
}

export type EndpointEventState = 'waiting' | 'live' | 'replaying' | 'stale';

export interface EndpointEventStatus {
  state: EndpointEventState;
  /** Next sequence number expected, null before the first batch. */
  nextSeq: bigint | null;
  batches: number;
  events: number;
  /** Engine time of the last applied batch, seconds since the epoch (0 = none). */
  lastBatchTs: number;
  /** Local receive time of the last applied batch, ms since the epoch (0 = none). */
  lastAppliedAtMs: number;
}

interface Stream {
  endpointId: string;
  model: string;
  replayEndpoint?: string;
  nextSeq: bigint | null;
  replaying: boolean;
  held: { seq: bigint; batch: KvEventBatch }[];
  replayNotBefore: number;
  stale: boolean;
  /** The publisher's connection dropped since the last batch (connect layout): a restart is possible. */
  peerLost: boolean;
  removed: boolean;
  batches: number;
  events: number;
  lastBatchTs: number;
  lastAppliedAtMs: number;
}

const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

export class KvEventSubscriber {
  private readonly sink: KvEventSink;
  private readonly log: LogOncePerKind;
  private readonly opts: Required<Omit<KvEventSubscriberOptions, 'sink' | 'logger' | 'dropLive'>> & Pick<KvEventSubscriberOptions, 'dropLive'>;
  private readonly sockets = new Map<string, zmq.Subscriber>();
  private readonly streams = new Map<string, Stream>();
  /** Endpoint id → stream keys (one per endpoint in the connect layout; one per topic and rank when bound). */
  private readonly byEndpoint = new Map<string, Set<string>>();
  private readonly replaySockets = new Set<zmq.Dealer>();
  private readonly pumps: Promise<void>[] = [];
  private closed = false;
  private readonly counters: KvEventSubscriberStats = {
    messages: 0,
    batches: 0,
    events: 0,
    decodeErrors: new DecodeErrorCounts(),
    gaps: 0,
    replaysRequested: 0,
    replaysCompleted: 0,
    replaysFailed: 0,
    replayedBatches: 0,
    unrecoverableGaps: 0,
    truncatedHistories: 0,
    restarts: 0,
    dropped: { heldOverflow: 0, unknownTopic: 0, testHook: 0 },
  };

  constructor(options: KvEventSubscriberOptions) {
    this.sink = options.sink;
    this.log = new LogOncePerKind(options.logger ?? silentLogger());
    this.opts = {
      replayTimeoutMs: options.replayTimeoutMs ?? 2000,
      replayBackoffMs: options.replayBackoffMs ?? 10_000,
      maxHeldBatches: options.maxHeldBatches ?? 10_000,
      receiveHighWaterMark: options.receiveHighWaterMark ?? 10_000,
      maxMessageBytes: options.maxMessageBytes ?? 64 * 1024 * 1024,
      messagesPerTurn: options.messagesPerTurn ?? 64,
      dropLive: options.dropLive,
    };
  }

  /** Subscribes to one engine's PUB socket (connect layout). Replaces an earlier subscription of the same endpoint. */
  addEndpoint(src: KvEventEndpoint): void {
    if (this.closed) return;
    if (this.sockets.has(src.endpointId)) this.removeEndpoint(src.endpointId);
    const sock = this.newSubscriber(src.endpoint);
    sock.connect(src.endpoint);
    sock.subscribe(src.topic ?? '');
    const key = `connect\u0000${src.endpointId}`;
    const st = this.newStream(key, src.endpointId, src.model, src.replayEndpoint);
    sock.events.on('disconnect', () => {
      st.peerLost = true;
    });
    this.sockets.set(src.endpointId, sock);
    this.pumps.push(this.pump(sock, (frames) => this.onFrames(frames, () => st)));
  }

  /**
   * A stream without a socket, for a publisher in this process (the simulator's modelled engines):
   * its batches come through `deliver`, in publish order, and are sequenced exactly as a socket's
   * live messages (gaps, restarts, the sink). Replaces an earlier stream of the same endpoint.
   */
  addLocalEndpoint(endpointId: string, model: string): void {
    if (this.closed) return;
    if (this.byEndpoint.has(endpointId)) this.removeEndpoint(endpointId);
    this.newStream(`local\u0000${endpointId}`, endpointId, model, undefined);
  }

  /** One batch of a local stream (`addLocalEndpoint`) with its sequence number; ignored for an unknown endpoint. */
  deliver(endpointId: string, seq: bigint, batch: KvEventBatch): void {
    const st = this.streams.get(`local\u0000${endpointId}`);
    if (!st || st.removed || this.closed) return;
    this.counters.messages++;
    if (this.opts.dropLive?.(st.endpointId, seq)) {
      this.counters.dropped.testHook++;
      return;
    }
    this.deliverLive(st, seq, batch);
  }

  /** Unsubscribes and tells the sink to forget the endpoint. */
  removeEndpoint(endpointId: string): void {
    const sock = this.sockets.get(endpointId);
    if (sock) {
      this.sockets.delete(endpointId);
      sock.close();
    }
    for (const key of this.byEndpoint.get(endpointId) ?? []) {
      const st = this.streams.get(key);
      if (st) st.removed = true;
      this.streams.delete(key);
    }
    if (this.byEndpoint.delete(endpointId)) this.sink.onReset(endpointId, 'endpoint_removed');
  }

  /** Forgets the endpoint's state and sequence (e.g. health checks saw the engine restart). */
  resetEndpoint(endpointId: string): void {
    for (const key of this.byEndpoint.get(endpointId) ?? []) {
      const st = this.streams.get(key);
      if (!st) continue;
      st.nextSeq = null;
      st.stale = false;
    }
    this.sink.onReset(endpointId, 'requested');
  }

  /**
   * Binds a SUB socket that engines publish to (llm-d layout), e.g. `tcp://*:5557`, taking
   * topics that start with `topicFilter` (default `kv@`). `resolve` maps a topic to its
   * endpoint; by default the endpoint id is the topic's address and the model its model.
   */
  async bind(address: string, opts: { topicFilter?: string; resolve?: TopicResolver } = {}): Promise<void> {
    const sock = this.newSubscriber(address);
    await sock.bind(address);
    sock.subscribe(opts.topicFilter ?? 'kv@');
    this.sockets.set(`bind\u0000${address}`, sock);
    const resolve: TopicResolver = opts.resolve ?? ((t) => ({ endpointId: t.address, model: t.model }));
    this.pumps.push(
      this.pump(sock, (frames) =>
        this.onFrames(frames, (topic, rank) => {
          const key = `bind\u0000${topic}\u0000${rank ?? ''}`;
          const known = this.streams.get(key);
          if (known) return known;
          const parsed = parseKvTopic(topic);
          const who = parsed ? resolve({ ...parsed, topic, dataParallelRank: rank }) : null;
          if (!who) {
            this.counters.dropped.unknownTopic++;
            this.log.warn('unknown_topic', { topic: topic.slice(0, 200) }, 'KV events on a topic no endpoint matches: dropped');
            return null;
          }
          return this.newStream(key, who.endpointId, who.model, who.replayEndpoint);
        }),
      ),
    );
  }

  /** The bound address of a `bind()` socket (to learn an ephemeral port). */
  boundAddress(address: string): string | undefined {
    return this.sockets.get(`bind\u0000${address}`)?.lastEndpoint ?? undefined;
  }

  stats(): KvEventSubscriberStats {
    return this.counters;
  }

  /** The endpoint's event-stream state (its first stream's, when it has several). */
  status(endpointId: string): EndpointEventStatus | undefined {
    const keys = this.byEndpoint.get(endpointId);
    if (!keys) return undefined;
    let out: EndpointEventStatus | undefined;
    for (const key of keys) {
      const st = this.streams.get(key);
      if (!st) continue;
      const state: EndpointEventState = st.replaying ? 'replaying' : st.stale ? 'stale' : st.nextSeq === null ? 'waiting' : 'live';
      const s = { state, nextSeq: st.nextSeq, batches: st.batches, events: st.events, lastBatchTs: st.lastBatchTs, lastAppliedAtMs: st.lastAppliedAtMs };
      if (!out || state === 'stale' || (state === 'replaying' && out.state !== 'stale')) out = s;
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets.values()) s.close();
    for (const d of this.replaySockets) d.close();
    this.sockets.clear();
    await Promise.allSettled(this.pumps);
  }

  // ---------------------------------------------------------------------------------------------

  /** A SUB socket for `endpoint`: with ZeroMQ's IPv6 option unless it is an IPv4 literal (zmqIPv6), so `tcp://*:5557` is dual-stack. */
  private newSubscriber(endpoint: string): zmq.Subscriber {
    return new zmq.Subscriber({ receiveHighWaterMark: this.opts.receiveHighWaterMark, maxMessageSize: this.opts.maxMessageBytes, linger: 0, ipv6: zmqIPv6(endpoint) });
  }

  private newStream(key: string, endpointId: string, model: string, replayEndpoint: string | undefined): Stream {
    const st: Stream = {
      endpointId,
      model,
      replayEndpoint,
      nextSeq: null,
      replaying: false,
      held: [],
      replayNotBefore: 0,
      stale: false,
      peerLost: false,
      removed: false,
      batches: 0,
      events: 0,
      lastBatchTs: 0,
      lastAppliedAtMs: 0,
    };
    this.streams.set(key, st);
    let keys = this.byEndpoint.get(endpointId);
    if (!keys) this.byEndpoint.set(endpointId, (keys = new Set()));
    keys.add(key);
    return st;
  }

  private async pump(sock: zmq.Subscriber, handle: (frames: Buffer[]) => void): Promise<void> {
    let n = 0;
    try {
      while (!sock.closed) {
        const frames = await sock.receive();
        this.counters.messages++;
        handle(frames);
        if (++n % this.opts.messagesPerTurn === 0) await yieldTurn();
      }
    } catch (err) {
      if (!sock.closed && !this.closed) this.log.warn('socket_failed', { err: (err as Error).message }, 'KV event socket failed');
    }
  }

  private decodeFailed(err: DecodeError, endpointId?: string): void {
    this.counters.decodeErrors.add(err);
    this.log.warn(`decode_${err.kind}`, { endpointId, reason: err.message }, 'malformed KV event input: skipped');
  }

  private onFrames(frames: Buffer[], streamOf: (topic: string, rank: number | null) => Stream | null): void {
    const m = decodeMessage(frames);
    if (!m.ok) {
      this.decodeFailed(m.error);
      return;
    }
    const st = streamOf(m.value.topic, m.value.batch.dataParallelRank);
    if (!st || st.removed) return;
    for (const e of m.eventErrors) this.decodeFailed(e, st.endpointId);
    if (this.opts.dropLive?.(st.endpointId, m.value.seq)) {
      this.counters.dropped.testHook++;
      return;
    }
    this.deliverLive(st, m.value.seq, m.value.batch);
  }

  private canReplay(st: Stream): boolean {
    return st.replayEndpoint !== undefined && Date.now() >= st.replayNotBefore && !this.closed;
  }

  private hold(st: Stream, seq: bigint, batch: KvEventBatch): void {
    if (st.held.length >= this.opts.maxHeldBatches) {
      this.counters.dropped.heldOverflow++;
      this.log.warn('held_overflow', { endpointId: st.endpointId }, 'KV event batches held during a replay exceed the cap: dropped');
      return;
    }
    st.held.push({ seq, batch });
  }

  private deliverLive(st: Stream, seq: bigint, batch: KvEventBatch): void {
    if (st.replaying) {
      this.hold(st, seq, batch);
      return;
    }
    // The publisher's connection dropped and came back: most likely its process restarted (the
    // new one counts from 0 again, and its first batches may be lost while we reconnect, so the
    // sequence alone cannot tell). Start over; a replay socket refills what the engine retained.
    if (st.peerLost && st.nextSeq !== null) this.restart(st);
    st.peerLost = false;
    if (st.nextSeq === null) {
      if (seq > 0n && this.canReplay(st)) {
        this.hold(st, seq, batch);
        this.startReplay(st, 0n);
        return;
      }
      if (seq > 0n) this.counters.truncatedHistories++;
      this.apply(st, seq, batch);
      return;
    }
    if (seq === st.nextSeq) {
      this.apply(st, seq, batch);
    } else if (seq < st.nextSeq) {
      this.restart(st);
      this.deliverLive(st, seq, batch);
    } else {
      this.counters.gaps++;
      if (this.canReplay(st)) {
        this.hold(st, seq, batch);
        this.startReplay(st, st.nextSeq);
        return;
      }
      this.unrecoverable(st, st.nextSeq, seq);
      this.apply(st, seq, batch);
    }
  }

  private restart(st: Stream): void {
    this.counters.restarts++;
    this.log.warn('sequence_restart', { endpointId: st.endpointId, nextSeq: String(st.nextSeq) }, 'KV event stream restarted: endpoint state reset');
    st.nextSeq = null;
    st.stale = false;
    this.sink.onReset(st.endpointId, 'sequence_restart');
  }

  private unrecoverable(st: Stream, from: bigint, to: bigint): void {
    this.counters.unrecoverableGaps++;
    st.stale = true;
    this.log.warn('unrecoverable_gap', { endpointId: st.endpointId, from: String(from), to: String(to) }, 'KV event batches lost: endpoint marked stale');
  }

  private apply(st: Stream, seq: bigint, batch: KvEventBatch): void {
    st.nextSeq = seq + 1n;
    st.batches++;
    st.events += batch.events.length;
    st.lastBatchTs = batch.ts;
    st.lastAppliedAtMs = Date.now();
    this.counters.batches++;
    this.counters.events += batch.events.length;
    // AllBlocksCleared makes the endpoint's state known again (empty), whatever was lost before.
    if (st.stale && batch.events.some((e) => e.type === 'AllBlocksCleared')) st.stale = false;
    try {
      this.sink.onBatch(st.endpointId, st.model, batch);
    } catch (err) {
      this.log.warn('sink_failed', { endpointId: st.endpointId, err: (err as Error).message }, 'KV event consumer failed on a batch');
    }
  }

  private startReplay(st: Stream, from: bigint): void {
    st.replaying = true;
    this.counters.replaysRequested++;
    void this.replay(st, from).finally(() => {
      st.replaying = false;
      const held = st.held;
      st.held = [];
      for (const h of held) {
        if (st.removed || this.closed) break;
        // The replay also sent the batches held meanwhile: those are applied already.
        if (st.nextSeq !== null && h.seq < st.nextSeq) continue;
        this.deliverLive(st, h.seq, h.batch);
      }
    });
  }

  private async replay(st: Stream, from: bigint): Promise<void> {
    const t = this.opts.replayTimeoutMs;
    const dealer = new zmq.Dealer({ linger: 0, sendTimeout: t, receiveTimeout: t, maxMessageSize: this.opts.maxMessageBytes, ipv6: zmqIPv6(st.replayEndpoint!) });
    this.replaySockets.add(dealer);
    try {
      dealer.connect(st.replayEndpoint!);
      const start = Buffer.alloc(8);
      start.writeBigUInt64BE(from);
      await dealer.send(['', start]);
      let n = 0;
      for (;;) {
        const frames = await dealer.receive();
        // vLLM replies [“”, (topic,) seq, payload]: the last two frames are always seq and payload.
        if (frames.length < 2) {
          this.decodeFailed({ kind: 'frame_count', message: `replay reply of ${frames.length} frames` }, st.endpointId);
          continue;
        }
        const seqFrame = frames[frames.length - 2];
        if (isEndSeq(seqFrame)) break;
        const seq = readSeq(seqFrame);
        if (seq === null) {
          this.decodeFailed({ kind: 'sequence_frame', message: `replay sequence frame of ${seqFrame.length} bytes` }, st.endpointId);
          continue;
        }
        const d = decodeBatch(frames[frames.length - 1]);
        if (!d.ok) {
          this.decodeFailed(d.error, st.endpointId);
          continue;
        }
        for (const e of d.eventErrors) this.decodeFailed(e, st.endpointId);
        this.deliverReplayed(st, seq, d.value);
        if (st.removed || this.closed) return;
        if (++n % this.opts.messagesPerTurn === 0) await yieldTurn();
      }
      this.counters.replaysCompleted++;
    } catch (err) {
      if (this.closed || st.removed) return;
      this.counters.replaysFailed++;
      st.replayNotBefore = Date.now() + this.opts.replayBackoffMs;
      this.log.warn('replay_failed', { endpointId: st.endpointId, endpoint: st.replayEndpoint, err: (err as Error).message }, 'KV event replay got no (complete) answer');
    } finally {
      this.replaySockets.delete(dealer);
      dealer.close();
    }
  }

  private deliverReplayed(st: Stream, seq: bigint, batch: KvEventBatch): void {
    if (st.nextSeq === null) {
      // Joining late: start from the oldest batch the engine still holds.
      if (seq > 0n) this.counters.truncatedHistories++;
    } else if (seq < st.nextSeq) {
      return; // already applied
    } else if (seq > st.nextSeq) {
      this.unrecoverable(st, st.nextSeq, seq); // dropped from the engine's replay buffer
    }
    this.counters.replayedBatches++;
    this.apply(st, seq, batch);
  }
}
