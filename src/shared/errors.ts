/**
 * One error type for the whole project, with stable machine-readable codes.
 *
 * Every HTTP surface (simulator, gateway) and the ext_proc server map a KvgateError to the
 * OpenAI error body `{"error":{"message","type","param","code"}}` through `toOpenAIError`,
 * so clients see the same shape whichever kvgate component answered.
 */

/** Stable error codes. Scripts match on these; never rename one, add new ones instead. */
export const ErrorCode = {
  InvalidJson: 'invalid_json',
  InvalidRequest: 'invalid_request_error',
  MissingModel: 'missing_model',
  ModelNotFound: 'model_not_found',
  ContextLengthExceeded: 'context_length_exceeded',
  BodyTooLarge: 'body_too_large',
  NotFound: 'not_found',
  MethodNotAllowed: 'method_not_allowed',
  Unauthorized: 'invalid_api_key',
  RateLimited: 'rate_limit_exceeded',
  Shed: 'request_shed',
  NoCandidates: 'no_ready_endpoints',
  NotReady: 'not_ready',
  UpstreamFailed: 'upstream_failed',
  Timeout: 'timeout',
  InvalidConfig: 'invalid_config',
  Internal: 'internal_error',
  /** The client did not send its request (headers or body) in time (408). */
  RequestTimeout: 'request_timeout',
  /** The gateway is at a capacity bound (queue full, buffered bytes): 503 with Retry-After. */
  Overloaded: 'overloaded',
  /** The request waited the queue timeout without an endpoint free to take it (503). */
  QueueTimeout: 'queue_timeout',
  /** Envoy's ext_proc messages came malformed or out of order: the EPP ends the stream (500). */
  ProtocolError: 'protocol_error',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** OpenAI's `type` field for each HTTP status family. */
function openAITypeFor(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return status === 503 ? 'service_unavailable_error' : 'server_error';
  return 'invalid_request_error';
}

export class KvgateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | null;
  /** Extra response headers that belong to this error (for example Retry-After on 429). */
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { status?: number; param?: string | null; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KvgateError';
    this.code = code;
    this.status = opts.status ?? defaultStatus(code);
    this.param = opts.param ?? null;
    this.headers = opts.headers ?? {};
  }
}

function defaultStatus(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.InvalidJson:
    case ErrorCode.InvalidRequest:
    case ErrorCode.MissingModel:
    case ErrorCode.ContextLengthExceeded:
    case ErrorCode.InvalidConfig:
      return 400;
    case ErrorCode.Unauthorized:
      return 401;
    case ErrorCode.ModelNotFound:
    case ErrorCode.NotFound:
      return 404;
    case ErrorCode.MethodNotAllowed:
      return 405;
    case ErrorCode.BodyTooLarge:
      return 413;
    case ErrorCode.RateLimited:
    case ErrorCode.Shed:
      return 429;
    case ErrorCode.UpstreamFailed:
      return 502;
    case ErrorCode.RequestTimeout:
      return 408;
    case ErrorCode.NoCandidates:
    case ErrorCode.NotReady:
    case ErrorCode.Overloaded:
    case ErrorCode.QueueTimeout:
      return 503;
    case ErrorCode.Timeout:
      return 504;
    default:
      return 500;
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** The OpenAI error body for any thrown value; unknown errors become a 500 without internals. */
export function toOpenAIError(err: unknown): { status: number; body: OpenAIErrorBody; headers: Record<string, string> } {
  if (err instanceof KvgateError) {
    return {
      status: err.status,
      headers: err.headers,
      body: { error: { message: err.message, type: openAITypeFor(err.status), param: err.param, code: err.code } },
    };
  }
  return {
    status: 500,
    headers: {},
    body: { error: { message: 'Internal server error', type: 'server_error', param: null, code: ErrorCode.Internal } },
  };
}

/** Builds an OpenAI error body directly (for errors that mimic another server's exact wording). */
export function openAIErrorBody(status: number, message: string, code: string | null, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type: openAITypeFor(status), param, code } };
}
