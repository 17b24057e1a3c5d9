import type { EndpointInfo } from '../../router/api.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import { bracketHost, unbracketHost, unbracketedIPv6Problem } from '../../shared/host-port.js';

/**
 * Parses one endpoint: "ip:port", "host:port", "[ipv6]:port" or an http(s) URL. The id is
 * "host:port" (an IPv6 host bracketed, `[fd00::5]:8000`), as the endpoint-picker protocol names
 * destinations; `host` is the bare address. An IPv6 address with a port but without brackets
 * (`::1:8000`) is an error showing the bracketed form: its port would be a guess. The scheme is case-insensitive (as URLs are:
 * "HTTP://h:1" is http://h:1); any other scheme is an error, not a host named after it.
 */
export function parseEndpoint(spec: string, labels: Record<string, string> = {}): EndpointInfo {
  const s = spec.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s)?.[1];
  if (scheme !== undefined && !/^https?$/i.test(scheme)) {
    throw new KvgateError(ErrorCode.InvalidConfig, `invalid endpoint "${spec}": scheme ${scheme}:// is not http:// or https://`, { param: 'endpoints' });
  }
  // host[:port] of a URL, after any user:password@ (whose colons are not an address's).
  const authority = (scheme !== undefined ? s.slice(scheme.length + 3).split(/[/?#]/)[0] : s).replace(/^.*@/, '');
  const v6 = unbracketedIPv6Problem(authority);
  if (v6) throw new KvgateError(ErrorCode.InvalidConfig, `invalid endpoint "${spec}": ${v6}`, { param: 'endpoints' });
  let url: URL;
  try {
    url = new URL(scheme !== undefined ? s : `http://${s}`);
  } catch {
    throw new KvgateError(ErrorCode.InvalidConfig, `invalid endpoint "${spec}": expected ip:port or an http(s) URL`, { param: 'endpoints' });
  }
  if (scheme === undefined && !/:\d+$/.test(s)) {
    throw new KvgateError(ErrorCode.InvalidConfig, `invalid endpoint "${spec}": missing port`, { param: 'endpoints' });
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (port === 0) throw new KvgateError(ErrorCode.InvalidConfig, `invalid endpoint "${spec}": port 0 is not a destination`, { param: 'endpoints' });
  const host = unbracketHost(url.hostname);
  const hostForId = bracketHost(host);
  return { id: `${hostForId}:${port}`, host, port, url: `${url.protocol}//${hostForId}:${port}`, labels };
}

/** Parses a comma-separated endpoint list; duplicates are errors. */
export function parseEndpointList(list: string | string[]): EndpointInfo[] {
  const items = (Array.isArray(list) ? list : [list]).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  const out: EndpointInfo[] = [];
  for (const item of items) {
    const e = parseEndpoint(item);
    if (out.some((o) => o.id === e.id)) throw new KvgateError(ErrorCode.InvalidConfig, `duplicate endpoint ${e.id}`, { param: 'endpoints' });
    out.push(e);
  }
  return out;
}
