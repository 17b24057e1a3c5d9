import type { ServerDuplexStream } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { EndpointPicker } from '../router/index.js';
import { parseOpenAIRequest } from '../router/index.js';
import type { EppMetrics } from '../router/observability/epp-metrics.js';
import type { Objectives } from '../router/objectives.js';
import { KvgateError, ErrorCode, toOpenAIError } from '../shared/errors.js';
import { UsageTap } from '../router/observability/usage-tap.js';
import type { HeaderValue, ProcessingRequest, StructValue } from './proto.js';

/** Body chunks sent back to Envoy are at most this big (some Envoys cap messages at 64 KB). */
export const MAX_CHUNK = 62_000;
const DEST = 'x-gateway-destination-endpoint';
const SERVED = 'x-gateway-destination-endpoint-served';
const SUBSET_NS = 'envoy.lb.subset_hint';
const SUBSET_KEY = 'x-gateway-destination-endpoint-subset';

export interface ProcessorOptions {
  router: EndpointPicker;
  metrics?: EppMetrics;
  maxBodyBytes: number;
  trustRoutingHeaders: boolean;
  objectives?: Objectives;
  now: () => number;
  random: () => number;
}

function headerMap(list: HeaderValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list ?? []) out[h.key.toLowerCase()] = h.raw_value && h.raw_value.length ? h.raw_value.toString('utf8') : (h.value ?? '');
  return out;
}

function setHeader(key: string, value: string) {
  return { header: { key, raw_value: Buffer.from(value) }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

function subsetHint(md: ProcessingRequest['metadata_context']): string[] | undefined {
  const s: StructValue | undefined = md?.filter_metadata?.[SUBSET_NS];
  const v = s?.fields?.[SUBSET_KEY];
  if (!v) return undefined;
  return (v.listValue?.values ?? []).map((x) => x.stringValue ?? '').filter(Boolean);
}

/**
 * One ext_proc stream = one HTTP request through Envoy, in FULL_DUPLEX_STREAMED mode:
 * headers (held), body chunks (buffered to end of stream) → pick → headers response with the
 * destination + dynamic metadata, then the body back in ≤ 62,000-byte streamed chunks; response
 * headers and body pass through while usage is counted and in-flight load released.
 */
export class StreamProcessor {
  private headers?: Record<string, string>;
  private body: Buffer[] = [];
  private bodyBytes = 0;
  private requestDone = false;
  private requestId?: string;
  private model = '';
  private priority = 0;
  private endpoint?: string;
  private tap?: UsageTap;
  private firstByte = false;
  private finished = false;
  private status = 0;
  private readonly t0: number;

  constructor(
    private readonly call: ServerDuplexStream<ProcessingRequest, unknown>,
    private readonly o: ProcessorOptions,
  ) {
    this.t0 = o.now();
    call.on('data', (m: ProcessingRequest) => {
      try {
        this.onMessage(m);
      } catch (err) {
        this.fail(GrpcStatus.INTERNAL, (err as Error).message);
      }
    });
    call.on('end', () => {
      this.complete(499);
      call.end();
    });
    call.on('error', () => this.complete(499));
    call.on('cancelled', () => this.complete(499));
  }

  private onMessage(m: ProcessingRequest): void {
    if (m.request_headers) return this.onRequestHeaders(m);
    if (m.request_body) return this.onRequestBody(m);
    if (m.request_trailers) return void this.call.write({ request_trailers: {} });
    if (m.response_headers) return this.onResponseHeaders(m);
    if (m.response_body) return this.onResponseBody(m);
    if (m.response_trailers) {
      if (!this.requestDone) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'response_trailers before the request was routed');
      this.complete(200);
      return void this.call.write({ response_trailers: {} });
    }
    this.fail(GrpcStatus.INVALID_ARGUMENT, 'ProcessingRequest carries no known phase');
  }

  private onRequestHeaders(m: ProcessingRequest): void {
    if (this.headers) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'request_headers received twice');
    this.headers = headerMap(m.request_headers!.headers?.headers);
    this.requestId = this.headers['x-request-id'] || `epp-${Math.floor(this.o.random() * 2 ** 48).toString(36)}`;
    if (!m.request_headers!.end_of_stream) return; // wait for the body (the headers response is deferred)
    // Header-only request (GET /v1/models …): a random ready endpoint, no scoring.
    this.requestDone = true;
    const subset = subsetHint(m.metadata_context);
    let eps = this.o.router.datastore.list().filter((e) => e.healthy);
    if (subset) eps = eps.filter((e) => subset.includes(e.info.id) || subset.includes(e.info.host));
    if (eps.length === 0) {
      const all = this.o.router.datastore.list().length;
      return this.immediate(all === 0 && !subset ? new KvgateError(ErrorCode.Internal, 'no pods available in datastore', { status: 500 }) : new KvgateError(ErrorCode.NoCandidates, 'failed to find endpoint candidates', { headers: { 'x-llm-d-request-dropped-reason': 'rejected-no-endpoints' } }));
    }
    const ep = eps[Math.floor(this.o.random() * eps.length)].info.id;
    this.sendDestination(ep, undefined);
  }

  private onRequestBody(m: ProcessingRequest): void {
    if (!this.headers) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'request_body before request_headers');
    if (this.finished) return; // the stream already failed: nothing may be dispatched any more
    if (this.requestDone) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'request_body after the end of the request');
    const chunk = m.request_body!.body ?? Buffer.alloc(0);
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.o.maxBodyBytes) {
      this.requestDone = true;
      return this.immediate(new KvgateError(ErrorCode.BodyTooLarge, `request body exceeds ${this.o.maxBodyBytes} bytes`));
    }
    if (chunk.length) this.body.push(chunk);
    if (!m.request_body!.end_of_stream) return;
    this.requestDone = true;
    const body = this.body.length === 1 ? this.body[0] : Buffer.concat(this.body);
    this.body = [];
    try {
      const path = (this.headers[':path'] ?? '/v1/completions').split('?')[0];
      const { route } = parseOpenAIRequest(path, body, { requestId: this.requestId, headers: this.headers, trustRoutingHeaders: this.o.trustRoutingHeaders, objectives: this.o.objectives });
      const subset = subsetHint(m.metadata_context);
      if (subset) route.subset = subset;
      this.model = route.model;
      this.priority = route.priority;
      const s0 = this.o.now();
      const pick = this.o.router.pick(route, s0);
      this.o.metrics?.observeScheduling((this.o.now() - s0) / 1000, pick.prefixMatch);
      this.endpoint = pick.endpoints[0].id;
      this.sendDestination(pick.endpoints.map((e) => e.id).join(','), body);
    } catch (err) {
      this.immediate(err);
    }
  }

  /** Headers response (destination header + same value in envoy.lb metadata), then the body in chunks. */
  private sendDestination(dest: string, body: Buffer | undefined): void {
    this.endpoint ??= dest.split(',')[0];
    const set = [setHeader(DEST, dest)];
    if (body) set.push(setHeader('content-length', String(body.length)));
    this.call.write({
      request_headers: { response: { clear_route_cache: true, header_mutation: { set_headers: set } } },
      dynamic_metadata: { fields: { 'envoy.lb': { structValue: { fields: { [DEST]: { stringValue: dest } } } } } },
    });
    if (!body) return;
    if (body.length === 0) {
      this.call.write({ request_body: { response: { body_mutation: { streamed_response: { body: Buffer.alloc(0), end_of_stream: true } } } } });
      return;
    }
    for (let off = 0; off < body.length; off += MAX_CHUNK) {
      const piece = body.subarray(off, Math.min(body.length, off + MAX_CHUNK));
      this.call.write({ request_body: { response: { body_mutation: { streamed_response: { body: piece, end_of_stream: off + MAX_CHUNK >= body.length } } } } });
    }
  }

  private onResponseHeaders(m: ProcessingRequest): void {
    if (!this.requestDone) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'response_headers before the request was routed');
    const h = headerMap(m.response_headers!.headers?.headers);
    const served = m.metadata_context?.filter_metadata?.['envoy.lb']?.fields?.[SERVED]?.stringValue;
    if (served && served !== this.endpoint && this.requestId) {
      this.o.router.onRetry(this.requestId, served, this.o.now());
      this.endpoint = served;
    }
    this.tap = new UsageTap((h['content-type'] ?? '').includes('text/event-stream'));
    this.status = Number(h[':status'] ?? 200);
    this.call.write({ response_headers: { response: {} } });
    if (m.response_headers!.end_of_stream) this.complete(this.status);
  }

  private onResponseBody(m: ProcessingRequest): void {
    if (!this.requestDone) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'response_body before the request was routed');
    const chunk = m.response_body!.body ?? Buffer.alloc(0);
    if (!this.firstByte && chunk.length && this.requestId) {
      this.firstByte = true;
      this.o.router.onFirstToken(this.requestId, this.o.now());
    }
    this.tap?.push(chunk);
    const eos = Boolean(m.response_body!.end_of_stream);
    this.call.write({ response_body: { response: { body_mutation: { streamed_response: { body: chunk, end_of_stream: eos } } } } });
    if (eos) this.complete(this.status || 200);
  }

  private immediate(err: unknown): void {
    const e = toOpenAIError(err);
    const headers = Object.entries({ 'content-type': 'application/json', ...e.headers }).map(([k, v]) => setHeader(k, v));
    this.call.write({ immediate_response: { status: { code: e.status }, headers: { set_headers: headers }, body: JSON.stringify(e.body), details: `inference error: ${e.body.error.code}` } });
    this.complete(e.status, e.body.error.code ?? undefined);
  }

  /** Ends the stream with a gRPC status (malformed or out-of-order messages). */
  private fail(code: number, message: string): void {
    this.complete(500, 'protocol_error');
    this.call.emit('error', { code, details: message });
  }

  /** Ends the request's bookkeeping exactly once, whatever path got here. */
  private complete(status: number, errorCode?: string): void {
    if (this.finished) return;
    this.finished = true;
    const usage = this.tap?.finish();
    if (this.requestId) this.o.router.onComplete(this.requestId, this.o.now(), usage);
    if (this.model) {
      this.o.metrics?.observeRequest({
        model: this.model,
        targetModel: this.model,
        priority: this.priority,
        endpoint: this.endpoint,
        status,
        errorCode,
        durationS: (this.o.now() - this.t0) / 1000,
        inputTokens: usage?.promptTokens,
        outputTokens: usage?.completionTokens,
        cachedTokens: usage?.cachedTokens,
      });
    }
  }
}
