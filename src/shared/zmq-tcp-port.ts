/**
 * Why a ZeroMQ `tcp://host:port` endpoint's port is out of range, or undefined when it is not
 * (or the endpoint is not tcp://). libzmq reads the port with a C integer conversion and keeps the
 * low 16 bits, so `tcp://*:70000` bound port 4464 and `tcp://*:-1` port 65535 without an error.
 * A TCP port is 0–65535 (RFC 793: a 16-bit field); ZeroMQ's `*` and `!` (ephemeral) pass.
 */
export function zmqTcpPortError(endpoint: string): string | undefined {
  const m = /^tcp:\/\/.*:([^:\]]*)$/.exec(endpoint);
  if (!m) return undefined;
  const port = m[1];
  if (port === '*' || port.startsWith('!')) return undefined;
  if (!/^\d+$/.test(port) || Number(port) > 65535) return `port "${port}" is not a TCP port (0 to 65535, or * for any)`;
  return undefined;
}
