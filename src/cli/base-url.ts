import { KvgateError, ErrorCode } from '../shared/errors.js';

/**
 * A `--url` that commands append API paths to (`/health`, `/v1/models`): an absolute http(s) URL
 * (WHATWG parsing, so a port above 65535 or a bare `http://` is refused here, once, rather than
 * as "Invalid URL" in every row), without a ?query or #fragment — appended paths would land
 * after them (`…?x=1/v1/models`). Returns the URL as given, trailing slashes removed (a path
 * prefix such as http://GATEWAY/ns/svc is kept).
 */
export function parseBaseUrl(raw: string, flag = '--url'): string {
  const url = raw.replace(/\/+$/, '');
  if (!/^https?:\/\//i.test(raw)) throw new KvgateError(ErrorCode.InvalidConfig, `${flag} must start with http:// or https:// (got "${raw}")`, { param: flag });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KvgateError(ErrorCode.InvalidConfig, `${flag} "${raw}" is not a valid URL (e.g. http://127.0.0.1:8080; ports go up to 65535)`, { param: flag });
  }
  if (parsed.search || parsed.hash) {
    throw new KvgateError(ErrorCode.InvalidConfig, `${flag} "${raw}" must be a base URL without a ?query or #fragment: API paths are appended to it (e.g. http://127.0.0.1:8080)`, { param: flag });
  }
  return url;
}
