import type { ClientDuplexStream } from '@grpc/grpc-js';
import { request } from 'undici';
import { hv, headerOf, type EnvoyLikeClient, type Resp } from '../extproc/client.js';

/** What a client behind Envoy + the EPP gets back. */
export interface EnvoyResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The destination list the EPP chose (undefined on an ImmediateResponse). */
  destination?: string;
  /** The request body Envoy forwarded upstream (the EPP's body mutation). */
  upstreamBody?: Buffer;
}

export interface EnvoyRequest {
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Envoy's request_body_mode; announced through protocol_config (FULL_DUPLEX_STREAMED by default). */
  mode?: 'FULL_DUPLEX_STREAMED' | 'BUFFERED';
  /** Body message size Envoy sends (default 64 KiB). */
  chunkBytes?: number;
  /** Envoy resends the final body chunk (a behaviour reported for ~1 MB bodies). */
  repeatLastChunk?: boolean;
  /** The GIE subset hint Envoy passes as `envoy.lb.subset_hint` metadata (endpoint ids or IPs). */
  subset?: string[];
}

const MODE = { BUFFERED: 2, FULL_DUPLEX_STREAMED: 4 } as const;

/** Reads one ext_proc stream's responses in order. */
class Inbox {
  private queue: Resp[] = [];
  private waiters: ((r: Resp | undefined) => void)[] = [];
  private ended = false;
  constructor(stream: ClientDuplexStream<unknown, Resp>) {
    stream.on('data', (r: Resp) => (this.waiters.length ? this.waiters.shift()!(r) : this.queue.push(r)));
    const end = () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(undefined);
    };
    stream.on('end', end);
    stream.on('error', end);
  }
  next(): Promise<Resp | undefined> {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((r) => this.waiters.push(r));
  }
}

/**
 * Plays Envoy for one request: sends it through the EPP's ext_proc stream, proxies to the
 * destination the EPP chose (`urlOf` maps an endpoint id to its base URL), and runs the response
 * back through the EPP, returning what the client would see. An ImmediateResponse is returned as is.
 */
export async function throughEnvoy(client: EnvoyLikeClient, req: EnvoyRequest, urlOf: (endpointId: string) => string): Promise<EnvoyResult> {
  const stream = client.stream();
  const inbox = new Inbox(stream);
  try {
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
    const mode = req.mode ?? 'FULL_DUPLEX_STREAMED';
    const hdrs = { 'content-type': 'application/json', ...req.headers };
    stream.write({
      request_headers: { headers: { headers: [hv(':path', req.path), hv(':method', body ? 'POST' : 'GET'), ...Object.entries(hdrs).map(([k, v]) => hv(k, v))] }, end_of_stream: !body },
      protocol_config: { request_body_mode: MODE[mode], response_body_mode: MODE[mode] },
      ...(req.subset
        ? { metadata_context: { filter_metadata: { 'envoy.lb.subset_hint': { fields: { 'x-gateway-destination-endpoint-subset': { listValue: { values: req.subset.map((s) => ({ stringValue: s })) } } } } } } }
        : {}),
    });
    let headerResp: Resp | undefined;
    if (mode === 'BUFFERED' && body) {
      headerResp = await inbox.next(); // Envoy waits for the headers answer before sending a buffered body
      if (headerResp?.immediate_response) return immediate(headerResp);
    }
    if (body) {
      const size = mode === 'BUFFERED' ? Math.max(1, body.length) : (req.chunkBytes ?? 64 * 1024);
      const pieces: Buffer[] = [];
      for (let off = 0; off < body.length || pieces.length === 0; off += size) pieces.push(body.subarray(off, off + size));
      pieces.forEach((p, i) => stream.write({ request_body: { body: p, end_of_stream: i === pieces.length - 1 } }));
      if (req.repeatLastChunk) stream.write({ request_body: { body: pieces[pieces.length - 1], end_of_stream: true } });
    }
    // The routing answer: headers (full duplex) or body (buffered) response with the destination.
    let upstreamBody: Buffer | undefined = body;
    let setHeaders: { header: { key: string; value?: string; raw_value?: Buffer } }[] | undefined;
    const first = await inbox.next();
    if (!first) throw new Error('the EPP ended the stream without answering');
    if (first.immediate_response) return immediate(first);
    if (mode === 'BUFFERED' && body) {
      const common = (first.request_body as { response?: { header_mutation?: { set_headers?: typeof setHeaders }; body_mutation?: { body?: Buffer } } }).response;
      setHeaders = common?.header_mutation?.set_headers;
      if (common?.body_mutation?.body) upstreamBody = common.body_mutation.body;
    } else {
      setHeaders = first.request_headers?.response?.header_mutation?.set_headers;
      if (body) {
        const parts: Buffer[] = [];
        for (;;) {
          const r = await inbox.next();
          const sr = r?.request_body?.response?.body_mutation?.streamed_response;
          if (!r || !sr) throw new Error(`expected the body back, got ${JSON.stringify(r)}`);
          parts.push(sr.body ?? Buffer.alloc(0));
          if (sr.end_of_stream) break;
        }
        upstreamBody = Buffer.concat(parts);
      }
    }
    const destination = headerOf(setHeaders, 'x-gateway-destination-endpoint');
    if (!destination) throw new Error('no destination in the EPP answer');
    const served = destination.split(',')[0];
    const forwarded: Record<string, string> = { ...hdrs };
    for (const h of setHeaders ?? []) forwarded[h.header.key.toLowerCase()] = h.header.raw_value?.length ? h.header.raw_value.toString() : (h.header.value ?? '');
    delete forwarded['x-gateway-destination-endpoint'];
    const up = await request(`${urlOf(served)}${req.path}`, { method: body ? 'POST' : 'GET', headers: forwarded, body: upstreamBody });
    const upHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(up.headers)) if (typeof v === 'string') upHeaders[k] = v;
    const md = { filter_metadata: { 'envoy.lb': { fields: { 'x-gateway-destination-endpoint-served': { stringValue: served } } } } };
    stream.write({ response_headers: { headers: { headers: [hv(':status', String(up.statusCode)), ...Object.entries(upHeaders).map(([k, v]) => hv(k, v))] } }, metadata_context: md });
    await inbox.next(); // response_headers answer
    const out: Buffer[] = [];
    const read = async (r: Resp | undefined) => {
      const rb = r?.response_body?.response as { body_mutation?: { streamed_response?: { body?: Buffer }; body?: Buffer } } | undefined;
      if (!r || !r.response_body) throw new Error(`expected a response_body answer, got ${JSON.stringify(r)}`);
      out.push(rb?.body_mutation?.streamed_response?.body ?? rb?.body_mutation?.body ?? Buffer.alloc(0));
    };
    if (mode === 'BUFFERED') {
      const whole = Buffer.from(await up.body.arrayBuffer());
      stream.write({ response_body: { body: whole, end_of_stream: true } });
      const r = await inbox.next();
      const rb = r?.response_body?.response as { body_mutation?: { body?: Buffer } } | undefined;
      out.push(rb?.body_mutation?.body ?? whole);
    } else {
      for await (const chunk of up.body) {
        stream.write({ response_body: { body: chunk as Buffer, end_of_stream: false } });
        await read(await inbox.next());
      }
      stream.write({ response_body: { body: Buffer.alloc(0), end_of_stream: true } });
      await read(await inbox.next());
    }
    return { status: up.statusCode, headers: upHeaders, body: Buffer.concat(out), destination, upstreamBody };
  } finally {
    stream.end();
  }
}

function immediate(r: Resp): EnvoyResult {
  const ir = r.immediate_response!;
  const headers: Record<string, string> = {};
  for (const h of ir.headers?.set_headers ?? []) headers[h.header.key] = h.header.raw_value?.length ? h.header.raw_value.toString() : (h.header.value ?? '');
  return { status: ir.status?.code ?? 0, headers, body: Buffer.from(ir.body ?? '') };
}
