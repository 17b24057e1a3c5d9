import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';

/** Resolved the same from src/extproc/ (tsx) and dist/extproc/ (built): the .proto files stay in src/. */
export const PROTO_DIR = fileURLToPath(new URL('../../src/extproc/proto/', import.meta.url));

const LOADER: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true, includeDirs: [PROTO_DIR] };

let cached: { extProc: grpc.ServiceDefinition; health: grpc.ServiceDefinition } | undefined;

export function services(): { extProc: grpc.ServiceDefinition; health: grpc.ServiceDefinition } {
  if (cached) return cached;
  const ep = grpc.loadPackageDefinition(protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', LOADER)) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: { service: grpc.ServiceDefinition } } } } };
  };
  const h = grpc.loadPackageDefinition(protoLoader.loadSync('grpc/health/v1/health.proto', LOADER)) as unknown as {
    grpc: { health: { v1: { Health: { service: grpc.ServiceDefinition } } } };
  };
  cached = { extProc: ep.envoy.service.ext_proc.v3.ExternalProcessor.service, health: h.grpc.health.v1.Health.service };
  return cached;
}

// Message shapes as proto-loader delivers them (keepCase; Struct fields in camelCase).
export interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer;
}
export interface StructValue {
  fields?: Record<string, { stringValue?: string; listValue?: { values?: { stringValue?: string }[] }; structValue?: StructValue }>;
}
export interface ProcessingRequest {
  request?: string;
  request_headers?: { headers?: { headers?: HeaderValue[] }; end_of_stream?: boolean };
  response_headers?: { headers?: { headers?: HeaderValue[] }; end_of_stream?: boolean };
  request_body?: { body?: Buffer; end_of_stream?: boolean };
  response_body?: { body?: Buffer; end_of_stream?: boolean };
  request_trailers?: unknown;
  response_trailers?: unknown;
  metadata_context?: { filter_metadata?: Record<string, StructValue> };
  protocol_config?: { request_body_mode?: string; response_body_mode?: string; send_body_without_waiting_for_header_response?: boolean };
}
