import { isIPv4 } from 'node:net';

/**
 * ZeroMQ's IPv6 socket option for a `tcp://host:port` endpoint, on every socket that binds or
 * connects one (KV-event publisher, replay, subscriber). Without it a bracketed IPv6 endpoint
 * (`tcp://[fd00::5]:5557`) fails to bind ("No such device") or never connects, `tcp://*:port`
 * listens on IPv4 only, and a name that resolves only to IPv6 (a Service in an IPv6-only
 * cluster) is unreachable. With it, `*` is dual-stack (IPv4 and IPv6 on one socket).
 *
 * Off only for an IPv4 literal (`127.0.0.1`, `0.0.0.0`): the option would bind it as the mapped
 * IPv6 address `::ffff:127.0.0.1`, which reaches the same peers but shows up as an IPv6 socket.
 * ipc:// and inproc:// ignore it.
 */
export function zmqIPv6(endpoint: string): boolean {
  const m = /^tcp:\/\/(.*):[^:\]]*$/.exec(endpoint);
  if (!m) return false;
  // `tcp://iface;host:port` names a source interface first; the host is what follows `;`.
  const host = m[1].slice(m[1].lastIndexOf(';') + 1);
  return !isIPv4(host);
}
