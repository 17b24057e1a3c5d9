// kvgate's error codes as GIE's canonical codes on inference_objective_request_error_total
// (src/router/observability/gie-error-code.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../src/shared/errors.js';
import { gieErrorCode, upstreamErrorCode } from '../../src/router/observability/gie-error-code.js';

/** Every kvgate ErrorCode with the GIE code it is recorded as. */
const EXPECTED: Record<ErrorCode, string> = {
  invalid_json: 'BadRequest',
  invalid_request_error: 'BadRequest',
  missing_model: 'BadRequest',
  context_length_exceeded: 'BadRequest',
  body_too_large: 'BadRequest',
  method_not_allowed: 'BadRequest',
  request_timeout: 'BadRequest',
  invalid_api_key: 'Unauthorized',
  model_not_found: 'NotFound',
  not_found: 'NotFound',
  rate_limit_exceeded: 'ResourceExhausted',
  request_shed: 'ResourceExhausted',
  no_ready_endpoints: 'ServiceUnavailable',
  not_ready: 'ServiceUnavailable',
  overloaded: 'ServiceUnavailable',
  queue_timeout: 'ServiceUnavailable',
  timeout: 'ServiceUnavailable',
  upstream_failed: 'ModelServerError',
  internal_error: 'Internal',
  invalid_config: 'Internal',
  protocol_error: 'Internal',
};

test('every kvgate ErrorCode has its GIE code (a new ErrorCode fails here until it is mapped)', () => {
  assert.deepEqual(Object.keys(EXPECTED).sort(), Object.values(ErrorCode).sort());
  for (const code of Object.values(ErrorCode)) assert.equal(gieErrorCode(code), EXPECTED[code], code);
});

test("a model server's error status is GIE's ModelServerError, whatever the status", () => {
  for (const status of [400, 404, 408, 413, 429, 500, 502, 503, 504]) {
    assert.equal(upstreamErrorCode(status), `upstream_${status}`);
    assert.equal(gieErrorCode(upstreamErrorCode(status)), 'ModelServerError', String(status));
  }
});

test('no code (a client that went away) and codes kvgate does not define are Unknown', () => {
  for (const code of [undefined, '', 'upstream_', 'upstream_abc', 'toString', 'constructor', '__proto__', 'ModelServerError']) assert.equal(gieErrorCode(code), 'Unknown', String(code));
});
