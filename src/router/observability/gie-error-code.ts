import { ErrorCode } from '../../shared/errors.js';

/**
 * GIE's canonical error codes: the `error_code` values of `inference_objective_request_error_total`
 * (as pkg/common/error/error.go of kubernetes-sigs/gateway-api-inference-extension v1.5.0, the
 * last release with the EPP in GIE). GIE records `ModelServerError` when the model server's
 * response status is not 200 (pkg/epp/handlers/server.go), and `Unknown` for an error that carries
 * none of its codes.
 */
export const GieErrorCode = {
  Unknown: 'Unknown',
  BadRequest: 'BadRequest',
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  NotFound: 'NotFound',
  Internal: 'Internal',
  ServiceUnavailable: 'ServiceUnavailable',
  ModelServerError: 'ModelServerError',
  ResourceExhausted: 'ResourceExhausted',
} as const;
export type GieErrorCode = (typeof GieErrorCode)[keyof typeof GieErrorCode];

/**
 * kvgate's error code → GIE's. The status each kvgate code answers with picks the GIE code whose
 * HTTP status GIE answers (GIE's BuildErrResponse: BadRequest 400, Unauthorized 401, NotFound 404,
 * ResourceExhausted 429, Internal 500, ServiceUnavailable 503), with these choices where GIE has
 * no code of its own:
 * - client faults without a GIE code (405, 408 body not sent in time, 413, context too long) are BadRequest;
 * - a request whose deadline passed (504 `timeout`) is ServiceUnavailable, as GIE's queue timeout;
 * - every failure of the model servers (`upstream_failed`: all attempts failed, or a stream cut
 *   short) is ModelServerError, as any non-200 model-server status in GIE;
 * - `invalid_config` reaching a request (a tokenizer that cannot load) is the server's fault: Internal.
 */
const BY_KVGATE_CODE: Record<ErrorCode, GieErrorCode> = {
  [ErrorCode.InvalidJson]: GieErrorCode.BadRequest,
  [ErrorCode.InvalidRequest]: GieErrorCode.BadRequest,
  [ErrorCode.MissingModel]: GieErrorCode.BadRequest,
  [ErrorCode.ContextLengthExceeded]: GieErrorCode.BadRequest,
  [ErrorCode.BodyTooLarge]: GieErrorCode.BadRequest,
  [ErrorCode.MethodNotAllowed]: GieErrorCode.BadRequest,
  [ErrorCode.RequestTimeout]: GieErrorCode.BadRequest,
  [ErrorCode.Unauthorized]: GieErrorCode.Unauthorized,
  [ErrorCode.ModelNotFound]: GieErrorCode.NotFound,
  [ErrorCode.NotFound]: GieErrorCode.NotFound,
  [ErrorCode.RateLimited]: GieErrorCode.ResourceExhausted,
  [ErrorCode.Shed]: GieErrorCode.ResourceExhausted,
  [ErrorCode.NoCandidates]: GieErrorCode.ServiceUnavailable,
  [ErrorCode.NotReady]: GieErrorCode.ServiceUnavailable,
  [ErrorCode.Overloaded]: GieErrorCode.ServiceUnavailable,
  [ErrorCode.QueueTimeout]: GieErrorCode.ServiceUnavailable,
  [ErrorCode.Timeout]: GieErrorCode.ServiceUnavailable,
  [ErrorCode.UpstreamFailed]: GieErrorCode.ModelServerError,
  [ErrorCode.Internal]: GieErrorCode.Internal,
  [ErrorCode.InvalidConfig]: GieErrorCode.Internal,
  [ErrorCode.ProtocolError]: GieErrorCode.Internal,
};

/** The code the lifecycle gives a response the model server answered with an error status: `upstream_<status>`. */
export function upstreamErrorCode(status: number): string {
  return `upstream_${status}`;
}

/**
 * GIE's error code for a failed request, from kvgate's finer code (the access log's `errorCode`):
 * a kvgate ErrorCode (table above), `upstream_<status>` (the model server's error status:
 * ModelServerError), anything else or none (a client that went away, 499) Unknown.
 */
export function gieErrorCode(code: string | undefined): GieErrorCode {
  if (code === undefined) return GieErrorCode.Unknown;
  if (Object.hasOwn(BY_KVGATE_CODE, code)) return BY_KVGATE_CODE[code as ErrorCode];
  return /^upstream_\d{3}$/.test(code) ? GieErrorCode.ModelServerError : GieErrorCode.Unknown;
}
