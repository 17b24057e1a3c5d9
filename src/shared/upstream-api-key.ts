/**
 * The one rule for the key kvgate presents to model servers (vLLM `--api-key`), wherever it comes
 * from: `--upstream-api-key`, $KVGATE_UPSTREAM_API_KEY, or an EndpointPickerConfig's
 * `upstreamApiKey`. Messages name the source, never the key.
 */

// What an HTTP header value can carry without being refused by undici (every request would fail).
const HEADER_SAFE = /^[\x20-\x7e]+$/;

/**
 * Why `key` (already trimmed) cannot be sent as `Authorization: Bearer <key>`, naming `where` (a
 * flag, a variable or a config field), or undefined when it can. Empty is refused, not read as "no
 * key": an unset `$KEY` would otherwise drop the key unnoticed.
 */
export function upstreamKeyProblem(key: string, where: string): string | undefined {
  if (!key) return `${where} is empty (an unset variable in "$KEY"?): give the key the model servers were started with (vLLM --api-key), or leave ${where} out`;
  if (!HEADER_SAFE.test(key)) return `${where} holds characters an HTTP header cannot carry (printable ASCII only)`;
  return undefined;
}
