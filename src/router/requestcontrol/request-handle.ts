import type { EndpointInfo, EndpointState, PickResult, RequestUsage, RouteRequest } from '../api.js';
import { dropError, flowIdOf, type QueueTicket } from '../flowcontrol/index.js';
import type { Evictable } from '../flowcontrol/sheddable-evictor.js';
import { assertJsonContentType, parseOpenAIRequest } from '../parse-request.js';
import { UsageTap, type InvalidResponseReason } from '../observability/usage-tap.js';
import { UNSERVED_MODEL } from '../observability/epp-metrics.js';
import { upstreamErrorCode } from '../observability/gie-error-code.js';
import { KvgateError, ErrorCode, toOpenAIError } from '../../shared/errors.js';
import { modelNotFound, servesModel } from './candidates.js';
import { fittingCandidates, maxModelLenOf, mayHaveOutgrown } from './context-fit.js';
import type { InferenceInput, LifecycleHost } from './types.js';
import { bodyWithIncludeUsage, UsageStrippingStream } from './stream-usage.js';
import { isRetryableStatus, retryDelayMs } from './retry-policy.js';
import { splitHostPort } from '../../shared/host-port.js';

const NOTHING = Buffer.alloc(0);
/** How vLLM ends every successful stream (see responseEnd). */
const DONE = /data: ?\[DONE\]\s*$/;
/** Bytes of the upstream stream kept to look for DONE at its end. */
const TAIL = 32;

/**
 * The SSE event that ends a stream which failed after bytes flowed (reset, idle timeout, deadline,
 * eviction, or an end without `data: [DONE]`): OpenAI's error object, code `code`.
 */
export function streamErrorEvent(message: string, code: string): string {
  return `data: ${JSON.stringify({ error: { message, type: 'server_error', param: null, code } })}\n\n`;
}

/** How a request ended, as the ingress saw it. */
export interface Outcome {
  /** HTTP status the client got (499 when the client went away first). */
  status: number;
  /** kvgate's error code for failures (a KvgateError code; unset for a model server's error status, which becomes "upstream_<status>"). */
  errorCode?: string;
}

/** What the ingress should do with an upstream response's status. */
export type StatusDecision = 'commit' | 'retry';

/**
 * One request's lifecycle (see Director). The ingress calls, in order:
 * `schedule()` (parse, model check, pick; throws KvgateError after finishing the handle), then
 * per attempt `nextEndpoint()` → transport → `upstreamStatus()` or `attemptFailed()`; once a
 * response is committed `responseChunk()` for each body chunk and `responseEnd()`; and always
 * `finish()` (idempotent), which releases the bookkeeping and records metrics and the access log.
 */
export class RequestHandle implements Evictable {
  readonly id: string;
  readonly t0: number;
  route?: RouteRequest;
  /** The body to send upstream (the client's, or with include_usage added). */
  body: Buffer;
  pick?: PickResult;
  /** The endpoint of the current (last) attempt. */
  endpoint?: EndpointInfo;
  attempts = 0;
  ttftMs?: number;
  /** Endpoint ids already attempted (at most maxAttempts: an array beats a Set per request). */
  private readonly tried: string[] = [];
  private tap?: UsageTap;
  private strip?: UsageStrippingStream;
  private injectUsage = false;
  /** Endpoints to send the request's model to were found (see metricsModel). */
  private modelFound = false;
  private mutableBody = true;
  private firstByte = false;
  /** The committed response is a stream (SSE). */
  private streamed = false;
  private finished = false;
  private lastStatus?: number;
  private lastReason?: string;
  private ticket = -1;
  private responseBytes = 0;
  /** The last bytes of the committed SSE stream as the upstream sent them (DONE check). */
  private sseTail = '';
  /** The last two bytes forwarded to the client (does an event end there?). */
  private outTail = '';
  /** Set at responseEnd when a 2xx stream ended without `data: [DONE]`: why it is incomplete. */
  private truncatedReason?: string;
  /** Set at responseEnd when a whole 2xx JSON body did not parse (metrics and access log mark it). */
  private invalidResponse?: InvalidResponseReason;
  /** The committed attempt's endpoint, until its response is known complete or failed (passive health). */
  private pendingHealth?: string;
  /**
   * Set by a 400 that may be a context-length refusal (upstreamStatus): the refusing endpoint's
   * window, which later attempts must exceed.
   */
  private outgrew?: number;
  /** Set while the request waits in the gateway queue. */
  private queueTicket?: QueueTicket;
  /** Endpoints to try, in order: the pick's, then candidates the dispatch gate held back. */
  private order: EndpointInfo[] = [];
  /** Evictable (see onEvict): its place in the evictor, when it was dispatched, whether it is being evicted. */
  slot = -1;
  dispatchedAtMs = 0;
  evicting = false;
  private onEvicted?: (err: KvgateError) => void;

  constructor(
    private readonly d: LifecycleHost,
    private readonly input: InferenceInput,
    id: string,
    private readonly onDone: () => void,
  ) {
    this.id = id;
    this.t0 = d.now();
    this.body = input.body;
  }

  /** The body as the client sent it. */
  get receivedBody(): Buffer {
    return this.input.body;
  }

  /** The ingress cannot replace the body (ext_proc STREAMED mode): never rewrite it. Call before schedule(). */
  keepBody(): void {
    this.mutableBody = false;
  }

  /**
   * The destinations to name to a proxy (ext_proc's x-gateway-destination-endpoint): the first
   * `picked` of the scheduled order, the picker's own choice (GIE: as many as its
   * maxNumOfEndpoints, default 1). A plain Envoy ORIGINAL_DST cluster reads one ip:port from that
   * header, so the gateway's longer failover order stays inside the gateway. Empty before schedule().
   */
  get proxyDestinations(): EndpointInfo[] {
    return this.order.slice(0, this.pick?.picked ?? 1);
  }

  /** The id to send upstream as x-request-id and echo to the client: the client's, else ours. */
  get externalId(): string {
    return this.route?.clientRequestId ?? this.id;
  }

  /**
   * Admits and routes the request: parses it once, checks the model against what the candidates
   * serve, waits in the gateway queue (router/flowcontrol) until the dispatch gate lets it go,
   * then runs the scheduler on the endpoints that may take it and starts in-flight bookkeeping on
   * the first. Resolves with the ordered endpoints (first = destination, rest = fallbacks). On any
   * rejection — including a drop from the queue (429 sheddable / 503 others, with
   * `x-llm-d-request-dropped-reason`) — the handle is finished (metrics, access log) and the
   * KvgateError is thrown for the ingress to send. `finish()` while it waits (the client went
   * away) takes it out of the queue at once.
   */
  async schedule(): Promise<EndpointInfo[]> {
    const d = this.d;
    try {
      if (d.draining) {
        throw new KvgateError(ErrorCode.NotReady, 'the router is shutting down', { headers: { 'x-llm-d-request-dropped-reason': 'rejected-shutting-down' } });
      }
      const o = d.opts;
      const ct = this.input.headers['content-type'];
      assertJsonContentType(Array.isArray(ct) ? ct[0] : ct);
      const { route, json } = parseOpenAIRequest(this.input.path, this.input.body, {
        requestId: this.id,
        headers: this.input.headers,
        trustRoutingHeaders: o.trustRoutingHeaders,
        defaultPriority: o.defaultPriority,
        objectives: o.objectives,
        chatTemplates: o.chatTemplates,
      });
      this.route = route;
      if (this.input.subset !== undefined) route.subset = this.input.subset;
      const candidates = this.candidates();
      this.modelFound = true;
      // A stream_options that is not an object is left for the engine to refuse (400), not replaced.
      const so = json.stream_options;
      const injectable = so === undefined || so === null || (typeof so === 'object' && !Array.isArray(so));
      if (route.stream && !route.includeUsage && injectable && o.usageOnEveryStream !== false && this.mutableBody) {
        this.body = bodyWithIncludeUsage(this.input.body, json);
        this.injectUsage = true;
      }
      if (!d.flow.enabled) return this.dispatch(candidates, candidates, true);
      return this.dispatchAtOnce(candidates) ?? (await this.admit(candidates));
    } catch (err) {
      const e = toOpenAIError(err);
      if (e.status === 429) d.opts.observer?.recordShed(this.id, e.status);
      this.finish({ status: e.status, errorCode: e.body.error.code ?? undefined });
      throw err;
    }
  }

  /**
   * The endpoints that may take the request: the Director's candidates for its model (throws 503 /
   * 404 as they do), narrowed to those whose max_model_len it fits (context-fit.ts).
   */
  private candidates(): EndpointState[] {
    const route = this.route!;
    return fittingCandidates(this.d.candidates(route.model, route.subset), route.model, route.promptTokens, route.maxTokens);
  }

  /**
   * When nothing waits in the gateway queue and the dispatch gate has targets, dispatches now
   * (what the queue's submit would do, without its ticket and closures); else undefined and the
   * request goes through admit().
   */
  private dispatchAtOnce(candidates: EndpointState[]): EndpointInfo[] | undefined {
    const d = this.d;
    const queue = d.flow.queue;
    if (!queue.idle) return undefined;
    const route = this.route!;
    const sheddable = route.priority < 0;
    const { targets } = d.flow.gate.assess(candidates, d.now(), d.router.ttftPredictor(route), sheddable);
    if (targets.length === 0) return undefined;
    let order: EndpointInfo[];
    try {
      order = this.dispatch(targets, candidates, sheddable);
    } catch (err) {
      queue.passedThrough(route.priority, false);
      throw err;
    }
    queue.passedThrough(route.priority, true);
    return order;
  }

  /** Through the gateway queue: resolves once dispatched, rejects when dropped or failed. */
  private admit(initial: EndpointState[]): Promise<EndpointInfo[]> {
    const d = this.d;
    const route = this.route!;
    const flow = d.flow;
    const predict = d.router.ttftPredictor(route);
    let fresh: EndpointState[] | undefined = initial;
    return new Promise<EndpointInfo[]>((resolve, reject) => {
      this.queueTicket = flow.queue.submit({
        flowId: flowIdOf(this.input.headers, route.model, d.opts.trustRoutingHeaders === true),
        priority: route.priority,
        bytes: this.input.body.length,
        poolKey: route.subset ? `${route.model}\u0000${route.subset.join(',')}` : route.model,
        tryDispatch: () => {
          try {
            // Endpoints come and go while a request waits: read them again on later attempts.
            const all = fresh ?? this.candidates();
            fresh = undefined;
            const { targets } = flow.gate.assess(all, d.now(), predict, route.priority < 0);
            if (targets.length === 0) {
              // Waiting here while sheddable requests hold batch slots it could use: evict one.
              if (route.priority >= 0) flow.evictor?.evictForQueued((id) => all.some((e) => e.info.id === id), flow.queue.queuedAtOrAbove(0));
              return 'blocked';
            }
            // Sheddable requests also pass the configured saturation detector (GIE's legacy
            // admission: stale metrics count as saturated), so they are shed when load is unknown.
            resolve(this.dispatch(targets, all, route.priority < 0));
            return 'dispatched';
          } catch (err) {
            reject(err);
            return 'rejected';
          }
        },
        onDropped: (reason) => reject(dropError(reason, route.priority, flow.queueTimeoutMs)),
      });
    });
  }

  /** Runs the scheduler on `eligible` and starts bookkeeping; fallbacks end with the rest of `all`. */
  private dispatch(eligible: EndpointState[], all: EndpointState[], admission: boolean): EndpointInfo[] {
    const d = this.d;
    const route = this.route!;
    if (route.promptTokenIds === undefined && d.router.wantsTokenIds(eligible)) {
      // Precise prefix matching: the engine's token ids, once per request (prefix-cached), and
      // only when the request is about to be picked (not while it waits in the gateway queue).
      const t0 = d.now();
      route.promptTokenIds = d.router.tokenize(route.prefixText);
      route.promptTokens = route.promptTokenIds.length;
      d.opts.metrics?.observeTokenization((d.now() - t0) / 1000);
    }
    const s0 = d.now();
    let pick: PickResult;
    try {
      pick = d.router.pick(route, s0, eligible, { admission });
    } catch (err) {
      d.opts.metrics?.observeAttempt(false, route.model);
      throw err;
    }
    d.opts.metrics?.observeScheduling((d.now() - s0) / 1000, pick.prefixMatch);
    d.opts.metrics?.observeAttempt(true, route.model, pick.endpoints[0]);
    d.opts.metrics?.requestStarted(route.model);
    this.pick = pick;
    // A retry would rather go to a replica the gate held back (busy) than fail the request.
    this.order = eligible.length === all.length ? pick.endpoints : [...pick.endpoints, ...all.filter((e) => !pick.endpoints.some((p) => p.id === e.info.id)).map((e) => e.info)];
    if (d.opts.observer) this.ticket = d.opts.observer.recordDecision({ requestId: this.id, endpointId: pick.endpoints[0].id, prefixMatch: pick.prefixMatch, scores: () => pick.scores });
    return this.order;
  }

  /**
   * The ingress can end this request early (abort its upstream attempt and answer `err`, 429
   * `evicted-priority`): with flow control's eviction on, a sheddable request (priority < 0)
   * becomes a candidate for eviction when a request of higher priority needs its batch slot
   * (see SheddableEvictor). Call once the request is scheduled; a no-op for other requests.
   */
  onEvict(evict: (err: KvgateError) => void): void {
    const evictor = this.d.flow.evictor;
    if (!evictor || this.finished || !this.route || this.route.priority >= 0) return;
    this.onEvicted = evict;
    this.dispatchedAtMs = this.d.now();
    evictor.track(this);
  }

  /** The endpoint of the current attempt, for the evictor. */
  get evictionEndpoint(): string | undefined {
    return this.endpoint?.id;
  }

  /** Evictable.evict: asks the ingress to end the request (see onEvict). */
  evict(): void {
    const route = this.route!;
    this.d.logger.info({ requestId: this.id, endpoint: this.endpoint?.id, priority: route.priority }, 'sheddable request evicted for a request of higher priority');
    this.onEvicted?.(dropError('evicted-priority', route.priority, this.d.flow.queueTimeoutMs));
  }

  /**
   * A request of priority ≥ 0 just went to `ep`: when more requests are in flight there than its
   * engine's batch (so this one would wait in the engine queue), sheddable requests holding
   * slots there are evicted, newest first.
   */
  private preemptFor(ep: EndpointInfo): void {
    const evictor = this.d.flow.evictor;
    if (!evictor || this.route!.priority < 0) return;
    const st = this.d.router.datastore.get(ep.id);
    if (st && st.inFlightSheddable > 0) evictor.evictOn(ep.id, st.inFlightRequests - this.d.flow.gate.maxNumSeqs(st) + 1);
  }

  /**
   * The endpoint for the next attempt, or undefined when attempts are used up (max attempts, or
   * no untried endpoint that still serves the model). Moves in-flight bookkeeping there.
   */
  nextEndpoint(): EndpointInfo | undefined {
    if (!this.pick || this.attempts >= (this.d.opts.maxAttempts ?? 3)) return undefined;
    const next = this.nextCandidate();
    if (!next) return undefined;
    if (this.attempts > 0) {
      this.d.router.onRetry(this.id, next.id, this.d.now());
      this.d.opts.observer?.recordRetry(this.ticket, next.id);
    }
    this.attempts++;
    this.tried.push(next.id);
    this.endpoint = next;
    this.preemptFor(next);
    return next;
  }

  /** Whether another attempt would be made after this one fails. */
  get canRetry(): boolean {
    return this.attempts < (this.d.opts.maxAttempts ?? 3) && this.nextCandidate() !== undefined;
  }

  /** Jittered pause before attempt number `this.attempts + 1` (see retry-policy.ts). */
  retryDelayMs(random: () => number = Math.random): number {
    return retryDelayMs(this.attempts, random);
  }

  private nextCandidate(): EndpointInfo | undefined {
    const model = this.route!.model;
    for (const e of this.order) {
      if (this.tried.includes(e.id)) continue;
      const st = this.d.router.datastore.get(e.id);
      if (st && st.models !== undefined && !servesModel(st, model)) continue; // learned it lacks the model
      if (this.outgrew !== undefined && st && (maxModelLenOf(st, model) ?? Infinity) <= this.outgrew) continue; // no larger window
      return e;
    }
    return undefined;
  }

  /**
   * A 400 from `ep` for a request that may have outgrown its window (context-fit.ts
   * mayHaveOutgrown: the router's token estimate undercounts some text) moves on when an untried
   * candidate has a larger window: the request goes where it may fit instead of failing on an
   * estimate. Only larger windows are tried after it; the last 400 is the client's answer.
   */
  private outgrownOn(ep: EndpointInfo): boolean {
    const route = this.route!;
    const len = mayHaveOutgrown(this.d.router.datastore.get(ep.id), route.model, route.promptTokens, route.maxTokens);
    if (len === undefined) return false;
    const before = this.outgrew;
    this.outgrew = Math.max(len, before ?? 0);
    if (this.canRetry) return true;
    this.outgrew = before;
    return false;
  }

  /**
   * The upstream answered `status` on the current attempt. A retryable status (408, 429, 5xx
   * gateway errors), a 404 for the model — which also marks the endpoint as not serving it and
   * asks for a fresh model list — or a 400 that may be a context-length refusal with a larger
   * window untried (outgrownOn) moves on when another endpoint can be tried; otherwise the
   * response is committed to the client.
   */
  upstreamStatus(status: number): StatusDecision {
    const ep = this.endpoint!;
    this.lastStatus = status;
    if (status === 404) this.modelMissing(ep.id);
    const retry = status === 400 ? this.outgrownOn(ep) : (status === 404 || isRetryableStatus(status)) && this.canRetry;
    // The endpoint answered; whether its attempt succeeded is known only at the end of a committed
    // body (responseEnd / responseFailed): a replica that resets every stream mid-body must reach
    // the consecutive failures that eject it, not have them reset by each 200.
    if (!retry) {
      this.pendingHealth = ep.id;
      return 'commit';
    }
    this.d.opts.feedback?.succeeded(ep.id);
    this.lastReason = `status ${status}`;
    this.d.router.onFailure(this.id, ep.id, this.d.now());
    this.d.logger.warn({ requestId: this.id, endpoint: ep.id, status }, 'upstream attempt failed; trying the next endpoint');
    return 'retry';
  }

  /**
   * The committed response failed after bytes flowed (reset, abort, idle timeout mid-body): a
   * failure of its endpoint for passive health, as one before the first byte is.
   */
  responseFailed(reason: string): void {
    const id = this.pendingHealth ?? this.endpoint?.id;
    this.pendingHealth = undefined;
    if (id) this.d.opts.feedback?.failed(id, reason);
  }

  /**
   * The event to end the client's stream with after a mid-stream failure: the error event, after
   * a blank line when the bytes forwarded so far stop inside an event (so it parses on its own).
   */
  streamError(message: string, code: string): string {
    const t = this.outTail;
    const sep = t === '' || t.endsWith('\n\n') ? '' : t.endsWith('\n') ? '\n' : '\n\n';
    return sep + streamErrorEvent(message, code);
  }

  /**
   * Set once the committed body ended (responseEnd) when it is a 2xx SSE stream that did not end
   * with `data: [DONE]`, which vLLM always sends last: cut short (mid-event, or between events),
   * it is the mid-stream failure it is. The ingress ends the client's stream with
   * streamError(truncated, 'upstream_failed'); finish() records upstream_failed.
   */
  get truncated(): string | undefined {
    return this.truncatedReason;
  }

  /** The current attempt failed before any response byte (connect error, reset, timeout). */
  attemptFailed(reason: string): void {
    const ep = this.endpoint!;
    this.lastReason = reason;
    this.lastStatus = undefined;
    this.pendingHealth = undefined;
    this.d.opts.feedback?.failed(ep.id, reason);
    this.d.router.onFailure(this.id, ep.id, this.d.now());
    this.d.logger.warn({ requestId: this.id, endpoint: ep.id, reason }, 'upstream attempt failed; trying the next endpoint');
  }

  /** The error to send when every attempt failed: 404 when all said the model is missing, else 502/503 (429 kept). */
  exhaustedError(): KvgateError {
    if (this.lastStatus === 404) return modelNotFound(this.route!.model);
    const status = this.lastStatus === 429 ? 429 : this.lastStatus ? 502 : 503;
    return new KvgateError(ErrorCode.UpstreamFailed, `all ${this.attempts} upstream attempts failed (last: ${this.lastReason ?? 'no endpoint'})`, { status });
  }

  /**
   * The data plane reports which endpoint served the request (ext_proc: Envoy's
   * x-gateway-destination-endpoint-served); bookkeeping follows it when it differs.
   */
  servedBy(endpointId: string): void {
    if (this.endpoint?.id === endpointId) return;
    this.d.router.onRetry(this.id, endpointId, this.d.now());
    const hp = splitHostPort(endpointId); // `[fd00::5]:8000` as well as `10.0.0.5:8000`
    this.endpoint = this.pick?.endpoints.find((e) => e.id === endpointId) ?? { id: endpointId, host: hp?.host ?? endpointId, port: hp?.port ?? 0, url: '', labels: {} };
  }

  /** Headers kvgate adds to the client's response. */
  responseHeaders(): Record<string, string> {
    const h: Record<string, string> = { 'x-gateway-destination-endpoint-served': this.endpoint?.id ?? '', 'x-request-id': this.externalId };
    if (this.d.opts.debugScores && this.pick) {
      const total = this.pick.prefixMatch?.totalBlocks;
      h['x-kvgate-scores'] = JSON.stringify(
        this.pick.scores.map((s) => ({
          endpoint: s.endpointId,
          total: +s.total.toFixed(4),
          ...s.byPlugin,
          ...(s.prefix ? { prefix: { blocks: +s.prefix.matchedBlocks.toFixed(2), of: total, source: s.prefix.source } } : {}),
        })),
      );
    }
    return h;
  }

  /** The committed response starts: `status` and its content type decide how bytes are watched. */
  responseStarted(status: number, contentType: string): void {
    this.lastStatus = status;
    if (status === 404 && this.endpoint) this.modelMissing(this.endpoint.id);
    const sse = contentType.includes('text/event-stream');
    this.streamed = sse;
    if (sse && this.injectUsage) this.strip = new UsageStrippingStream();
    else this.tap = new UsageTap(sse);
  }

  /** One response body chunk: returns the bytes to forward to the client (the same bytes unless usage is stripped). */
  responseChunk(chunk: Buffer): Buffer {
    if (!this.firstByte && chunk.length > 0) {
      this.firstByte = true;
      // An error body is not a first token: the engine prefilled nothing (a prompt over
      // max-model-len is refused with 400 at once), so it neither teaches the router a prefill
      // rate nor counts as a time to first token.
      if (this.lastStatus === undefined || this.lastStatus < 400) {
        this.ttftMs = this.d.now() - this.t0;
        this.d.router.onFirstToken(this.id, this.d.now());
      }
    }
    if (this.streamed && chunk.length > 0) this.sseTail = (this.sseTail + chunk.toString('latin1', Math.max(0, chunk.length - TAIL))).slice(-TAIL);
    let out = chunk;
    if (this.strip) out = this.strip.push(chunk);
    else this.tap?.push(chunk);
    this.forwarded(out);
    return out;
  }

  private forwarded(out: Buffer): void {
    this.responseBytes += out.length;
    if (this.streamed && out.length > 0) this.outTail = (this.outTail + out.toString('latin1', Math.max(0, out.length - 2))).slice(-2);
  }

  /** The response body ended: any bytes still held back, to forward before closing. */
  responseEnd(): Buffer {
    const rest = this.strip ? this.strip.end() : NOTHING;
    this.forwarded(rest);
    const status = this.lastStatus ?? 200;
    if (this.streamed && status >= 200 && status < 300 && !DONE.test(this.sseTail)) {
      this.truncatedReason = `upstream ${this.endpoint?.id ?? ''} ended the stream before its final DONE event (cut short)`;
      this.responseFailed(this.truncatedReason);
    } else {
      const id = this.pendingHealth ?? this.endpoint?.id;
      this.pendingHealth = undefined;
      if (id) this.d.opts.feedback?.succeeded(id);
    }
    // Judged only here, once the whole body went through: a body cut short by a failure, or one
    // the ingress never sees (ext_proc without response body), is not "invalid JSON".
    if (!this.streamed && status >= 200 && status < 300 && this.tap) {
      this.tap.finish();
      this.invalidResponse = this.tap.invalid;
    }
    return rest;
  }

  private usage(): RequestUsage | undefined {
    return this.strip ? this.strip.usage : this.tap?.finish();
  }

  private modelMissing(endpointId: string): void {
    const model = this.route?.model;
    if (!model) return;
    const st = this.d.router.datastore.get(endpointId);
    if (st?.models) this.d.router.datastore.setModels(endpointId, st.models.filter((m) => m.id !== model));
    this.d.opts.feedback?.modelMissing(endpointId, model);
  }

  /**
   * The model the request's metrics are labelled with: its own once endpoints for it were found
   * and none answered 404, else UNSERVED_MODEL — a name no endpoint serves came from the client,
   * and a series per name would let clients grow /metrics without bound. (Endpoints whose model
   * list is not known yet are tried with any model; their 404 folds the name the same way.)
   */
  private metricsModel(status: number): string {
    return this.route && this.modelFound && status !== 404 ? this.route.model : UNSERVED_MODEL;
  }

  /** Ends the lifecycle exactly once: releases bookkeeping, records metrics and the access log. */
  finish(outcome: Outcome): void {
    if (this.finished) return;
    this.finished = true;
    this.onDone();
    this.queueTicket?.cancel(); // the client went away while it waited: leave the queue now
    const d = this.d;
    if (this.slot >= 0) d.flow.evictor?.release(this);
    const now = d.now();
    const usage = this.route ? this.usage() : undefined;
    const metricsModel = this.metricsModel(outcome.status);
    if (this.pick) {
      d.router.onComplete(this.id, now, usage);
      d.opts.metrics?.requestEnded(this.route!.model, metricsModel !== UNSERVED_MODEL);
      d.flow.queue.pump(); // its endpoint has room again
    }
    const route = this.route;
    const durationS = (now - this.t0) / 1000;
    const errorCode =
      outcome.errorCode ?? (this.truncatedReason && outcome.status < 400 ? ErrorCode.UpstreamFailed : undefined) ?? (outcome.status >= 400 && outcome.status !== 499 ? upstreamErrorCode(outcome.status) : undefined);
    // Every request is counted, those refused before their body named a model (invalid JSON, no
    // model, a bad priority header, shutting down) under the unserved model's "" label, so error
    // rates include them.
    d.opts.metrics?.observeRequest({
      model: metricsModel,
      targetModel: metricsModel,
      priority: route?.priority ?? d.opts.defaultPriority ?? 0,
      endpoint: this.endpoint?.id,
      status: outcome.status,
      errorCode,
      durationS,
      ttftS: this.ttftMs !== undefined ? this.ttftMs / 1000 : undefined,
      streamed: this.streamed,
      inputTokens: usage?.promptTokens,
      outputTokens: usage?.completionTokens,
      cachedTokens: usage?.cachedTokens,
      invalidResponse: this.invalidResponse,
      requestBytes: this.input.body.length,
      responseBytes: this.pick ? this.responseBytes : undefined,
    });
    // Every request, as observeRequest above: one refused before its pick (no ticket, no endpoint)
    // counts in the dashboard's completions and errors too.
    d.opts.observer?.recordCompletion(this.ticket, {
      endpointId: this.endpoint?.id,
      status: outcome.status,
      errorCode,
      stream: route?.stream,
      ttftMs: this.ttftMs,
      e2eMs: now - this.t0,
      promptTokens: usage?.promptTokens,
      completionTokens: usage?.completionTokens,
      cachedTokens: usage?.cachedTokens,
    });
    // The record is built only when it will be written (the EPP often runs at warn).
    if (d.opts.accessLog !== false && d.logger.isLevelEnabled('info')) {
      d.logger.info(
        {
          requestId: this.id,
          clientRequestId: route?.clientRequestId,
          ingress: this.input.ingress,
          model: route?.model,
          endpoint: this.endpoint?.id,
          status: outcome.status,
          errorCode,
          attempts: this.attempts,
          stream: route?.stream,
          priority: route?.priority,
          promptTokens: usage?.promptTokens,
          completionTokens: usage?.completionTokens,
          cachedTokens: usage?.cachedTokens,
          invalidResponse: this.invalidResponse,
          ttftMs: this.ttftMs !== undefined ? +this.ttftMs.toFixed(2) : undefined,
          latencyMs: +(durationS * 1000).toFixed(2),
        },
        'request',
      );
    }
  }
}
