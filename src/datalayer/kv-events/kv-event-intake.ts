import type { Registry } from 'prom-client';
import type { EndpointInfo } from '../../router/api.js';
import { ExactPrefixIndex } from '../../router/prefix/exact-prefix-index.js';
import { EXACT_INDEX_MODEL, type KvEventsView, type KvStreamStatus } from '../../router/prefix/kv-events-view.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import { canonicalHost, hostUrl, splitHostPort } from '../../shared/host-port.js';
import { zmqTcpPortError } from '../../shared/zmq-tcp-port.js';
import { KvEventSubscriber, type KvEventSubscriberOptions } from './subscriber.js';
import type { KvEventBatch } from './events.js';
import { exactIndexSink } from './index-sink.js';
import { registerIntakeMetrics, type LagSeries } from './intake-metrics.js';
import { KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL, RANK_LABEL } from './labels.js';

export { KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL } from './labels.js';

export interface KvEventIntakeOptions {
  /** The engines' KV-event PUB port, for endpoints whose metadata names none (`--kv-events-port`; vLLM's default endpoint is tcp://*:5557). */
  port?: number;
  /** The engines' replay port, for endpoints whose metadata names none (`--kv-events-replay-port`). */
  replayPort?: number;
  /** Bind a socket engines publish to (llm-d's layout, `--kv-events-bind tcp://*:5557`). */
  bind?: string;
  /** Topic prefix taken on the bound socket. Default `kv@`. */
  topicFilter?: string;
  logger?: Logger;
  /** Subscriber tuning and test hooks (queue bounds, replay timeouts). */
  subscriber?: Omit<KvEventSubscriberOptions, 'sink' | 'logger'>;
}

function portLabel(e: EndpointInfo, label: string): number | undefined {
  const v = e.labels[label];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

/**
 * The pool's KV-event intake (issue 12): one ZeroMQ subscriber (`subscriber.ts`) feeding one
 * exact prefix index, following the pool's endpoint set. For every endpoint with a KV-event port —
 * its own metadata (an endpoints file's `kvEventsPort`, the Pod annotation
 * `kvgate.io/kv-events-port`, both as the label of that name) or the pool-wide `port` — it
 * subscribes to `tcp://<endpoint-host>:<port>` (plus the data-parallel rank, as vLLM offsets
 * ports), with the replay socket when one is known; endpoints that leave are unsubscribed and
 * their blocks dropped. With `bind`, engines publish to the router instead (llm-d's layout) and
 * each stream's topic `kv@<address>@<model>` names its endpoint: an endpoint id (`host:port`), or
 * a host that one endpoint has (several: the data-parallel rank of the batch picks). IPv6 hosts
 * may be bare or bracketed (`kv@fd00::5@m`, `kv@[fd00::5]:8000@m`), in any spelling of the
 * address; llm-d-inference-sim's unbracketed `kv@fd00::5:8000@m` is taken as host and port when
 * no endpoint has the whole text as its host.
 *
 * The router reads it through `view` (index + per-endpoint stream status). Nothing here runs on
 * the request path: intake is bounded and yields (see subscriber.ts), and the index is read-only
 * for requests.
 */
export class KvEventIntake {
  readonly index = new ExactPrefixIndex();
  private readonly subscriber: KvEventSubscriber;
  private readonly logger: Logger;
  /** Endpoint id → the subscription spec it has now ("endpoint|replay"). */
  private readonly subscribed = new Map<string, string>();
  private readonly endpoints = new Map<string, EndpointInfo>();
  private lag?: LagSeries;
  private bound?: string;
  private closed = false;

  constructor(private readonly o: KvEventIntakeOptions = {}) {
    this.logger = o.logger ?? silentLogger();
    const sink = exactIndexSink(this.index);
    this.subscriber = new KvEventSubscriber({
      ...o.subscriber,
      logger: this.logger,
      sink: {
        onBatch: (endpointId, model, batch) => {
          // Engine clock to ours: meaningful when their clocks are synchronised (NTP), as on one host.
          if (this.lag && batch.ts > 0) this.lag.observe(Math.max(0, Date.now() / 1000 - batch.ts));
          sink.onBatch(endpointId, model, batch);
        },
        onReset: (endpointId, reason) => sink.onReset(endpointId, reason),
      },
    });
  }

  /** Binds the llm-d-layout socket when configured. Throws InvalidConfig naming `--kv-events-bind` when it cannot. */
  async start(): Promise<this> {
    if (this.o.bind && !this.bound) {
      const badPort = zmqTcpPortError(this.o.bind);
      if (badPort) throw new KvgateError(ErrorCode.InvalidConfig, `cannot bind --kv-events-bind ${this.o.bind}: ${badPort}`, { param: '--kv-events-bind' });
      try {
        await this.subscriber.bind(this.o.bind, { topicFilter: this.o.topicFilter, resolve: (t) => this.resolveTopic(t.address, t.dataParallelRank) });
      } catch (err) {
        throw new KvgateError(ErrorCode.InvalidConfig, `cannot bind --kv-events-bind ${this.o.bind}: ${(err as Error).message}`, { param: '--kv-events-bind' });
      }
      this.bound = this.subscriber.boundAddress(this.o.bind);
      this.logger.info({ address: this.bound }, 'KV events: engines may publish here');
    }
    return this;
  }

  /** The bound llm-d-layout address (with its real port), once started. */
  get boundAddress(): string | undefined {
    return this.bound;
  }

  /** Follows the pool's endpoint set: subscribes new endpoints, resubscribes changed ones, drops those gone. */
  sync(list: readonly EndpointInfo[]): void {
    if (this.closed) return;
    const keep = new Set<string>();
    for (const e of list) {
      keep.add(e.id);
      this.endpoints.set(e.id, e);
      const spec = this.specOf(e);
      const cur = this.subscribed.get(e.id);
      if (spec === cur) continue;
      if (cur !== undefined) this.subscriber.removeEndpoint(e.id);
      if (spec === undefined) {
        this.subscribed.delete(e.id);
        continue;
      }
      const [endpoint, replay] = spec.split('|');
      this.subscriber.addEndpoint({ endpointId: e.id, model: EXACT_INDEX_MODEL, endpoint, replayEndpoint: replay || undefined });
      this.subscribed.set(e.id, spec);
    }
    for (const id of [...this.endpoints.keys()]) {
      if (keep.has(id)) continue;
      this.endpoints.delete(id);
      this.subscribed.delete(id);
      this.subscriber.removeEndpoint(id); // also drops a bound-layout stream and the index entries
      this.index.removeEndpoint(id);
    }
  }

  /**
   * An engine publishing in this process (the simulator's modelled replicas, src/simulate): no
   * socket; its batches come through `deliver` in publish order and take the same path as a
   * subscribed stream's (sequencing, stream state, the exact index).
   */
  addLocalStream(e: EndpointInfo): void {
    if (this.closed) return;
    this.endpoints.set(e.id, e);
    this.subscriber.addLocalEndpoint(e.id, EXACT_INDEX_MODEL);
  }

  /** A batch of a local stream (`addLocalStream`), numbered 0, 1, 2… as vLLM numbers them. */
  deliver(endpointId: string, seq: bigint, batch: KvEventBatch): void {
    this.subscriber.deliver(endpointId, seq, batch);
  }

  /** Forgets an endpoint's blocks and sequence (e.g. its engine was seen to restart). */
  resetEndpoint(endpointId: string): void {
    this.subscriber.resetEndpoint(endpointId);
  }

  /** What plugins read (router/prefix/kv-events-view.ts). */
  readonly view: KvEventsView = {
    index: this.index,
    status: (endpointId: string): KvStreamStatus | undefined => {
      const s = this.subscriber.status(endpointId);
      return s && { state: s.state, batches: s.batches };
    },
  };

  /** The subscriber's counters (see KvEventSubscriberStats). */
  stats() {
    return this.subscriber.stats();
  }

  /** Endpoints with a stream, and their state. */
  streams(): { endpointId: string; state: KvStreamStatus['state']; batches: number; blocks: number }[] {
    const out = [];
    for (const id of this.endpoints.keys()) {
      const s = this.subscriber.status(id);
      if (s) out.push({ endpointId: id, state: s.state, batches: s.batches, blocks: this.index.blocks(id) });
    }
    return out;
  }

  /** Exposes the intake's counters, stream states and index size on a Prometheus registry (gateway and EPP /metrics). */
  registerMetrics(registry: Registry): void {
    this.lag = registerIntakeMetrics(registry, this);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.subscriber.close();
  }

  // ---------------------------------------------------------------------------------------------

  private specOf(e: EndpointInfo): string | undefined {
    const base = portLabel(e, KV_EVENTS_PORT_LABEL) ?? this.o.port;
    if (base === undefined) return undefined;
    const rank = Number(e.labels[RANK_LABEL] ?? 0) || 0;
    const replayBase = portLabel(e, KV_EVENTS_REPLAY_PORT_LABEL) ?? this.o.replayPort;
    return `${hostUrl('tcp', e.host, base + rank)}|${replayBase !== undefined ? hostUrl('tcp', e.host, replayBase + rank) : ''}`;
  }

  private resolveTopic(address: string, rank: number | null): { endpointId: string; model: string; replayEndpoint?: string } | null {
    const e = this.endpointAt(address, rank);
    if (!e) return null;
    const replayBase = portLabel(e, KV_EVENTS_REPLAY_PORT_LABEL) ?? this.o.replayPort;
    return { endpointId: e.id, model: EXACT_INDEX_MODEL, replayEndpoint: replayBase !== undefined ? hostUrl('tcp', e.host, replayBase + (rank ?? 0)) : undefined };
  }

  /** The endpoint a topic's address names: its id, a host (the rank picks among several), or host:port. */
  private endpointAt(address: string, rank: number | null): EndpointInfo | undefined {
    const exact = this.endpoints.get(address);
    if (exact) return exact;
    const host = canonicalHost(address);
    const same = [...this.endpoints.values()].filter((x) => canonicalHost(x.host) === host);
    if (same.length === 1) return same[0];
    if (same.length > 1) return same.find((x) => Number(x.labels[RANK_LABEL] ?? 0) === (rank ?? 0)) ?? same.sort((a, b) => (a.id < b.id ? -1 : 1))[0];
    // host:port in another spelling: `[FD00::5]:8000`, or bare IPv6 and a port (`fd00::5:8000`).
    const hp = splitHostPort(address);
    if (!hp) return undefined;
    const h = canonicalHost(hp.host);
    return [...this.endpoints.values()].find((x) => x.port === hp.port && canonicalHost(x.host) === h);
  }
}
