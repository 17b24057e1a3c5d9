import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { formatHostPort } from '../../src/shared/host-port.js';

const DIR = fileURLToPath(new URL('../fixtures/extproc-client/', import.meta.url));
const OPTS = { keepCase: true, longs: Number, enums: Number, defaults: false, oneofs: true, includeDirs: [DIR] };

type Ctor = new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client & Record<string, (...a: unknown[]) => unknown>;
const ep = grpc.loadPackageDefinition(protoLoader.loadSync('envoy_ext_proc_client.proto', OPTS)) as unknown as { envoy: { service: { ext_proc: { v3: { ExternalProcessor: Ctor } } } } };
const hp = grpc.loadPackageDefinition(protoLoader.loadSync('health_client.proto', OPTS)) as unknown as { grpc: { health: { v1: { Health: Ctor } } } };

export interface Resp {
  request_headers?: { response?: { clear_route_cache?: boolean; header_mutation?: { set_headers?: { header: { key: string; value?: string; raw_value?: Buffer } }[] } } };
  request_body?: { response?: { body_mutation?: { streamed_response?: { body?: Buffer; end_of_stream?: boolean } } } };
  response_headers?: unknown;
  request_trailers?: unknown;
  response_trailers?: unknown;
  response_body?: { response?: { body_mutation?: { streamed_response?: { body?: Buffer; end_of_stream?: boolean } } } };
  immediate_response?: { status?: { code?: number }; headers?: { set_headers?: { header: { key: string; raw_value?: Buffer; value?: string } }[] }; body?: string };
  dynamic_metadata?: { fields?: Record<string, { structValue?: { fields?: Record<string, { stringValue?: string }> } }> };
}

export function hv(key: string, value: string) {
  return { key, raw_value: Buffer.from(value) };
}

export function headerOf(list: { header: { key: string; value?: string; raw_value?: Buffer } }[] | undefined, key: string): string | undefined {
  const h = list?.find((x) => x.header.key.toLowerCase() === key);
  return h ? (h.header.raw_value?.length ? h.header.raw_value.toString() : h.header.value) : undefined;
}

/** An Envoy-like ext_proc client: open a stream, send messages, collect responses. */
export class EnvoyLikeClient {
  readonly client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  constructor(port: number, tlsCa?: Buffer, host = '127.0.0.1') {
    const creds = tlsCa ? grpc.credentials.createSsl(tlsCa) : grpc.credentials.createInsecure();
    this.client = new ep.envoy.service.ext_proc.v3.ExternalProcessor(formatHostPort(host, port), creds);
  }

  /** Sends `messages` on one stream and resolves with every response once `until` says done (or the stream ends). */
  exchange(messages: unknown[], until: (got: Resp[]) => boolean, endAfter = true): Promise<{ responses: Resp[]; error?: grpc.ServiceError }> {
    return new Promise((resolve) => {
      const stream = (this.client.Process as () => grpc.ClientDuplexStream<unknown, Resp>)();
      const got: Resp[] = [];
      let settled = false;
      const finish = (error?: grpc.ServiceError) => {
        if (settled) return;
        settled = true;
        if (endAfter) stream.end();
        resolve({ responses: got, error });
      };
      stream.on('data', (r: Resp) => {
        got.push(r);
        if (until(got)) finish();
      });
      stream.on('error', (e: grpc.ServiceError) => finish(e));
      stream.on('end', () => finish());
      for (const m of messages) stream.write(m);
    });
  }

  stream() {
    return (this.client.Process as () => grpc.ClientDuplexStream<unknown, Resp>)();
  }

  close() {
    this.client.close();
  }
}

/**
 * Sends one completions request (headers, then the whole body) through the EPP and returns where
 * it would go: the `x-gateway-destination-endpoint` value, `immediate <status>` for an
 * ImmediateResponse, or `none`. Throws on a stream error.
 */
export async function routeCompletion(client: EnvoyLikeClient, model: string, prompt: string): Promise<string> {
  const body = JSON.stringify({ model, prompt, max_tokens: 4 });
  const msgs = [
    { request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', 'POST'), hv('content-type', 'application/json'), hv('x-request-id', `route-${Math.random()}`)] } } },
    { request_body: { body: Buffer.from(body), end_of_stream: true } },
  ];
  const routed = (got: Resp[]) => got.some((r) => r.immediate_response) || got.some((r) => r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream);
  const { responses, error } = await client.exchange(msgs, routed);
  if (error) throw error;
  const ir = responses.find((r) => r.immediate_response)?.immediate_response;
  if (ir) return `immediate ${ir.status?.code}`;
  return headerOf(responses[0].request_headers?.response?.header_mutation?.set_headers, 'x-gateway-destination-endpoint') ?? 'none';
}

/** Health/Check's answer: the ServingStatus number, or `grpc:CODE` when the call failed (5 = NOT_FOUND). */
export async function healthAnswer(port: number, service: string): Promise<number | string> {
  try {
    return await healthCheck(port, service);
  } catch (err) {
    return `grpc:${(err as { code?: number }).code}`;
  }
}

export function healthCheck(port: number, service: string, host = '127.0.0.1'): Promise<number> {
  const c = new hp.grpc.health.v1.Health(formatHostPort(host, port), grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    (c.Check as (r: unknown, cb: (e: Error | null, r: { status?: number }) => void) => void)({ service }, (err, r) => {
      c.close();
      if (err) reject(err);
      else resolve(r.status ?? 0);
    }),
  );
}
