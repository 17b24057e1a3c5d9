import { isIPv6 } from 'node:net';

/**
 * Host and host:port text, IPv4, IPv6 and names alike, in one place: IPv6 clusters give Pods
 * addresses such as `fd00:10:244::5`, and every place that joins a host to a port (URLs, ZeroMQ
 * endpoints, gRPC bind addresses, endpoint ids) must bracket it — `[fd00:10:244::5]:8000` —
 * while sockets (`listen`, `connect`) and Kubernetes fields take the bare address.
 */

/** `[v6]` for an IPv6 address (bare or already bracketed); an IPv4 address or a name unchanged. */
export function bracketHost(host: string): string {
  const bare = unbracketHost(host);
  return bare.includes(':') ? `[${bare}]` : bare;
}

/** The bare host: `[::1]` → `::1`; anything else unchanged. */
export function unbracketHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * One spelling per address, for comparing hosts written by different parties: an IPv6 address
 * in its canonical form, bare (`[FD00:10:244:0::5]` → `fd00:10:244::5`); anything else lower-cased.
 */
export function canonicalHost(host: string): string {
  const bare = unbracketHost(host);
  return isIPv6(bare) ? new URL(`http://[${bare}]/`).hostname.slice(1, -1) : bare.toLowerCase();
}

/** `host:port`, the host bracketed when it is IPv6: (`::1`, 8000) → `[::1]:8000`. */
export function formatHostPort(host: string, port: number | string): string {
  return `${bracketHost(host)}:${port}`;
}

/** `scheme://host:port` with an IPv6 host bracketed, e.g. `http://[::1]:8000`, `tcp://[fd00::5]:5557`. */
export function hostUrl(scheme: string, host: string, port: number | string): string {
  return `${scheme}://${formatHostPort(host, port)}`;
}

/**
 * `host:port` split at its last colon: `[::1]:8000` → (`::1`, 8000), `10.0.0.5:8000`,
 * `name:8000`; the host comes back bare. A bare IPv6 address with a port (`fd00::5:8000`, as
 * llm-d-inference-sim writes its topics) splits the same way, so callers that can also read the
 * whole text as an address try that first. Undefined without a numeric port in 0–65535.
 */
export function splitHostPort(text: string): { host: string; port: number } | undefined {
  const cut = text.lastIndexOf(':');
  const port = text.slice(cut + 1);
  if (cut <= 0 || !/^\d{1,5}$/.test(port) || Number(port) > 65535) return undefined;
  return { host: unbracketHost(text.slice(0, cut)), port: Number(port) };
}

/**
 * Why `spec` (meant as `host:port`) is refused when it is an unbracketed IPv6 address with a
 * port, or undefined when it is not one: `::1:8000` could be the address `::1:8000` or `::1`
 * port 8000, so the message shows the bracketed form to write instead (`[::1]:8000`). Callers
 * prefix the flag or field.
 */
export function unbracketedIPv6Problem(spec: string): string | undefined {
  const s = spec.trim();
  if (s.startsWith('[') || s.indexOf(':') === s.lastIndexOf(':')) return undefined;
  const cut = s.lastIndexOf(':');
  const host = s.slice(0, cut);
  const port = s.slice(cut + 1);
  const hint = /^\d+$/.test(port) && isIPv6(host) ? `[${host}]:${port}` : `[${s}]:<port>`;
  return `an IPv6 address needs brackets, or its port is ambiguous: write ${hint}`;
}

/**
 * A listen address as Node's `listen()` takes it: `[::1]` and `::1` both give `::1`; `''` is
 * refused (Node would read it as "every interface"). Returns the message naming `flag` for a
 * malformed value (brackets around something that is not an IPv6 address).
 */
export function parseListenHost(value: string, flag: string): { host: string } | { error: string } {
  const v = value.trim();
  if (v === '') return { error: `${flag}: empty address; give an address such as 127.0.0.1, ::1, 0.0.0.0 or ::` };
  if (v.startsWith('[') || v.endsWith(']')) {
    const bare = unbracketHost(v);
    if (bare === v || !isIPv6(bare)) return { error: `${flag}: "${v}" is not a bracketed IPv6 address (e.g. [::1])` };
    return { host: bare };
  }
  return { host: v };
}

/**
 * The addresses to suggest when `--host` is not one of this machine's: the loopback and the
 * every-interface address of the family the user wrote (an IPv6 user told "127.0.0.1 or 0.0.0.0"
 * would change families to fix a typo), e.g. "127.0.0.1 or 0.0.0.0", "::1 or :: (every interface)".
 */
export function listenHostSuggestion(host: string): string {
  return isIPv6(unbracketHost(host)) ? '::1 or :: (every interface)' : '127.0.0.1 or 0.0.0.0';
}

/**
 * What to tell a user whose `--host` a server could not listen on, from Node's listen error code:
 * EADDRNOTAVAIL (an address this machine does not have) or ENOTFOUND / EAI_AGAIN (a name that
 * does not resolve, from getaddrinfo); undefined for any other code. Shared by `kvgate serve`,
 * `kvgate sim` and `kvgate up`, so each names the flag rather than printing getaddrinfo's text.
 */
export function listenHostProblem(host: string, code: string | undefined): string | undefined {
  if (code !== 'EADDRNOTAVAIL' && code !== 'ENOTFOUND' && code !== 'EAI_AGAIN') return undefined;
  const why = code === 'EADDRNOTAVAIL' ? 'not an address of this machine' : 'the name does not resolve';
  return `--host ${host}: ${why} (${code}); give one of its addresses, ${listenHostSuggestion(host)}`;
}
