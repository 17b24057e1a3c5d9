import type { ServerDuplexStream } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Director, RequestHandle } from '../router/requestcontrol/index.js';
import { KvgateError, ErrorCode, toOpenAIError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { HeaderValue, ProcessingRequest, StructValue } from './proto.js';

/** Body chunks sent back to Envoy are at most this big (some Envoys cap messages at 64 KB). */
export const MAX_CHUNK = 62_000;
const DEST = 'x-gateway-destination-endpoint';
const SERVED = 'x-gateway-destination-endpoint-served';
const SUBSET_NS = 'envoy.lb.subset_hint';
const SUBSET_KEY = 'x-gateway-destination-endpoint-subset';

/** Envoy's ProcessingMode.BodySendMode names, as proto-loader delivers the enum. */
type BodyMode = 'NONE' | 'STREAMED' | 'BUFFERED' | 'BUFFERED_PARTIAL' | 'FULL_DUPLEX_STREAMED' | 'GRPC';

export interface ProcessorOptions {
  director: Director;
  maxBodyBytes: number;
  now: () => number;
  random: () => number;
  logger?: Logger;
}

function headerMap(list: HeaderValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list ?? []) out[h.key.toLowerCase()] = h.raw_value && h.raw_value.length ? h.raw_value.toString('utf8') : (h.value ?? '');
  return out;
}

function setHeader(key: string, value: string) {
  return { header: { key, raw_value: Buffer.from(value) }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

/**
 * The GIE subset hint: a list of "ip[:port]" strings. A plain string is read as a comma-separated
 * list (the form of x-gateway-destination-endpoint): read as no list, it left no candidate and
 * every request got 503.
 */
function subsetHint(md: ProcessingRequest['metadata_context']): string[] | undefined {
  const s: StructValue | undefined = md?.filter_metadata?.[SUBSET_NS];
  const v = s?.fields?.[SUBSET_KEY];
  if (!v) return undefined;
  const items = typeof v.stringValue === 'string' ? v.stringValue.split(',') : (v.listValue?.values ?? []).map((x) => x.stringValue ?? '');
  return items.map((x) => x.trim()).filter(Boolean);
}

let warnedStreamed = false;

/**
 * One ext_proc stream = one HTTP request through Envoy. Protocol only: every decision is the
 * request lifecycle's (router/requestcontrol). Body modes, from the stream's protocol_config
 * (FULL_DUPLEX_STREAMED when Envoy does not say, as the GIE requires):
 * - FULL_DUPLEX_STREAMED: headers held, body buffered to end of stream (or trailers), then the
 *   headers response with the destination + metadata and the body back in ≤ 62,000-byte
 *   streamed chunks; response chunks stream back as they come.
 * - BUFFERED / BUFFERED_PARTIAL: headers answered at once; the one body message is answered with
 *   the destination as a header mutation (and the body when it changed).
 * - STREAMED: with send_body_without_waiting_for_header_response, as full duplex but each chunk
 *   answered unchanged; without it Envoy needs the headers answered before any body, so the
 *   request is routed like a header-only one (no prompt to score), logged once.
 * Body data after end of stream is ignored (Envoy may resend the final chunk, as the GIE tolerates).
 */
export class StreamProcessor {
  private headers?: Record<string, string>;
  private body: Buffer[] = [];
  private bodyBytes = 0;
  private requestMode: BodyMode = 'FULL_DUPLEX_STREAMED';
  private responseMode: BodyMode = 'FULL_DUPLEX_STREAMED';
  private sendBodyWithoutWaiting = false;
  private configured = false;
  /** The request's body (or header-only request) is complete; later request data is ignored. */
  private requestDone = false;
  /** Destination sent: response phases may follow. */
  private routed = false;
  private trailersPending = false;
  private handle?: RequestHandle;
  private finished = false;
  private status = 0;
  private subset?: string[];

  constructor(
    private readonly call: ServerDuplexStream<ProcessingRequest, unknown>,
    private readonly o: ProcessorOptions,
  ) {
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
    if (!this.configured && m.protocol_config) {
      this.configured = true;
      this.requestMode = (m.protocol_config.request_body_mode as BodyMode | undefined) ?? 'NONE';
      this.responseMode = (m.protocol_config.response_body_mode as BodyMode | undefined) ?? 'NONE';
      this.sendBodyWithoutWaiting = m.protocol_config.send_body_without_waiting_for_header_response === true;
    }
    if (m.metadata_context && this.subset === undefined) this.subset = subsetHint(m.metadata_context);
    if (m.request_headers) return this.onRequestHeaders(m);
    if (m.request_body) return this.onRequestBody(m);
    if (m.request_trailers) return this.onRequestTrailers();
    if (m.response_headers) return this.onResponseHeaders(m);
    if (m.response_body) return this.onResponseBody(m);
    if (m.response_trailers) {
      if (!this.routed) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'response_trailers before the request was routed');
      this.complete(this.status || 200);
      return void this.call.write({ response_trailers: {} });
    }
    this.fail(GrpcStatus.INVALID_ARGUMENT, 'ProcessingRequest carries no known phase');
  }

  private onRequestHeaders(m: ProcessingRequest): void {
    if (this.headers) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'request_headers received twice');
    this.headers = headerMap(m.request_headers!.headers?.headers);
    const streamedBlind = this.requestMode === 'STREAMED' && !this.sendBodyWithoutWaiting;
    if (m.request_headers!.end_of_stream || this.requestMode === 'NONE' || streamedBlind) {
      if (streamedBlind && !warnedStreamed) {
        warnedStreamed = true;
        this.o.logger?.warn('ext_proc request_body_mode STREAMED answers headers before the body: requests are routed without their prompt; use FULL_DUPLEX_STREAMED');
      }
      // Header-only request (GET /v1/models …) or no body to wait for: a random ready endpoint.
      this.requestDone = m.request_headers!.end_of_stream === true || this.requestMode === 'NONE';
      try {
        const ep = this.o.director.routeHeaderOnly(this.subset, this.o.random);
        this.routed = true;
        this.call.write(this.destinationHeaders(ep.id, undefined));
      } catch (err) {
        this.immediate(err);
      }
      return;
    }
    if (this.requestMode === 'BUFFERED' || this.requestMode === 'BUFFERED_PARTIAL') this.call.write({ request_headers: { response: {} } });
  }

  private onRequestBody(m: ProcessingRequest): void {
    if (!this.headers) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'request_body before request_headers');
    if (this.finished) return; // the stream already failed: nothing may be dispatched any more
    if (this.requestDone) {
      // STREAMED routed blind still owes Envoy an answer per chunk; otherwise data after end of stream is dropped.
      if (this.routed && this.requestMode === 'STREAMED') this.call.write({ request_body: { response: {} } });
      return;
    }
    const chunk = m.request_body!.body ?? Buffer.alloc(0);
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.o.maxBodyBytes) {
      this.requestDone = true;
      return this.immediate(new KvgateError(ErrorCode.BodyTooLarge, `request body exceeds ${this.o.maxBodyBytes} bytes`));
    }
    this.body.push(chunk);
    if (m.request_body!.end_of_stream) this.endOfRequest();
  }

  private onRequestTrailers(): void {
    if (!this.headers) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'request_trailers before request_headers');
    this.trailersPending = true;
    if (!this.requestDone) this.endOfRequest(); // trailers end a body that never said end_of_stream
    else this.flushTrailers();
  }

  private flushTrailers(): void {
    if (!this.trailersPending || !this.routed || this.finished) return;
    this.trailersPending = false;
    this.call.write({ request_trailers: {} });
  }

  /** The whole request is in: admit and pick through the lifecycle, then answer Envoy. */
  private endOfRequest(): void {
    this.requestDone = true;
    const chunks = this.body;
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    this.body = [];
    const path = (this.headers![':path'] ?? '/v1/completions').split('?')[0];
    const h = this.o.director.begin({ ingress: 'epp', path, headers: this.headers!, body, subset: this.subset });
    this.handle = h;
    if (this.requestMode === 'STREAMED') h.keepBody();
    h.schedule().then(
      () => {
        if (this.finished) return;
        this.routed = true;
        h.nextEndpoint(); // Envoy tries the list in order; the served endpoint comes back with the response
        // A sheddable request evicted for one of higher priority: Envoy ends it with our 429 (GIE's ImmediateResponse eviction).
        h.onEvict((err) => this.immediate(err));
        // The picker's choice only (maxNumOfEndpoints, default 1): Envoy's ORIGINAL_DST cluster reads one ip:port.
        const dest = h.proxyDestinations.map((e) => e.id).join(',');
        this.sendDestination(dest, h, chunks);
        this.flushTrailers();
      },
      (err) => this.immediate(err),
    );
  }

  private destinationHeaders(dest: string, h: RequestHandle | undefined) {
    const set = [setHeader(DEST, dest)];
    if (h) {
      set.push(setHeader('content-length', String(h.body.length)));
      if (!this.headers?.['x-request-id']) set.push(setHeader('x-request-id', h.externalId));
    }
    return {
      request_headers: { response: { clear_route_cache: true, header_mutation: { set_headers: set } } },
      dynamic_metadata: this.lbMetadata(dest),
    };
  }

  private lbMetadata(dest: string) {
    return { fields: { 'envoy.lb': { structValue: { fields: { [DEST]: { stringValue: dest } } } } } };
  }

  /** The destination (header + envoy.lb metadata, always equal) and the body, in the request mode's shape. */
  private sendDestination(dest: string, h: RequestHandle, received: Buffer[]): void {
    const body = h.body;
    if (this.requestMode === 'BUFFERED' || this.requestMode === 'BUFFERED_PARTIAL') {
      const set = [setHeader(DEST, dest), setHeader('content-length', String(body.length))];
      if (!this.headers?.['x-request-id']) set.push(setHeader('x-request-id', h.externalId));
      const changed = body !== h.receivedBody;
      this.call.write({
        request_body: { response: { clear_route_cache: true, header_mutation: { set_headers: set }, ...(changed ? { body_mutation: { body } } : {}) } },
        dynamic_metadata: this.lbMetadata(dest),
      });
      return;
    }
    this.call.write(this.destinationHeaders(dest, h));
    if (this.requestMode === 'STREAMED') {
      for (let i = 0; i < received.length; i++) this.call.write({ request_body: { response: {} } });
      return;
    }
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
    if (!this.routed) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'response_headers before the request was routed');
    const hdrs = headerMap(m.response_headers!.headers?.headers);
    this.status = Number(hdrs[':status'] ?? 200);
    const h = this.handle;
    if (h) {
      const served = m.metadata_context?.filter_metadata?.['envoy.lb']?.fields?.[SERVED]?.stringValue;
      if (served) h.servedBy(served);
      h.responseStarted(this.status, hdrs['content-type'] ?? '');
    }
    this.call.write({ response_headers: { response: {} } });
    if (m.response_headers!.end_of_stream) this.complete(this.status);
  }

  private onResponseBody(m: ProcessingRequest): void {
    if (!this.routed) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'response_body before the request was routed');
    const chunk = m.response_body!.body ?? Buffer.alloc(0);
    const eos = Boolean(m.response_body!.end_of_stream);
    const h = this.handle;
    let out = h ? h.responseChunk(chunk) : chunk;
    if (eos && h) {
      const rest = h.responseEnd();
      // A stream that ended without data: [DONE] was cut short: the client gets the error event
      // the gateway sends (and finish() records upstream_failed).
      const cut = h.truncated;
      const tail = cut === undefined ? rest : Buffer.concat([rest, Buffer.from(h.streamError(cut, ErrorCode.UpstreamFailed))]);
      if (tail.length) out = Buffer.concat([out, tail]);
    }
    if (this.responseMode === 'FULL_DUPLEX_STREAMED') {
      this.call.write({ response_body: { response: { body_mutation: { streamed_response: { body: out, end_of_stream: eos } } } } });
    } else {
      // BUFFERED and STREAMED: each body message is answered; a mutation only when bytes changed.
      this.call.write({ response_body: { response: out === chunk ? {} : { body_mutation: { body: out } } } });
    }
    if (eos) this.complete(this.status || 200);
  }

  private immediate(err: unknown): void {
    if (this.finished) return;
    const e = toOpenAIError(err);
    const headers = Object.entries({ 'content-type': 'application/json', ...e.headers }).map(([k, v]) => setHeader(k, v));
    this.call.write({ immediate_response: { status: { code: e.status }, headers: { set_headers: headers }, body: JSON.stringify(e.body), details: `inference error: ${e.body.error.code}` } });
    this.complete(e.status, e.body.error.code ?? undefined);
    // Nothing more will be processed on this stream (Envoy answers the client itself): close it cleanly.
    this.call.end();
  }

  /** Ends the stream with a gRPC status (malformed or out-of-order messages). */
  private fail(code: number, message: string): void {
    this.complete(500, ErrorCode.ProtocolError);
    this.call.emit('error', { code, details: message });
  }

  /** Ends the request's lifecycle exactly once, whatever path got here. */
  private complete(status: number, errorCode?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.handle?.finish({ status, errorCode });
  }
}
