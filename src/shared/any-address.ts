import { createServer } from 'node:net';

let cached: Promise<'::' | '0.0.0.0'> | undefined;

/**
 * The address that listens on every interface here: `::` (one dual-stack socket, IPv6 and IPv4,
 * as Node's own default when listen() gets no host), or `0.0.0.0` on a machine without IPv6
 * (where binding `::` fails with EAFNOSUPPORT). For servers that must be reachable on IPv6-only
 * networks by default (the EPP in an IPv6 cluster) and whose gRPC library needs a host written out.
 * Probed once per process with a throwaway listener on port 0.
 */
export function anyAddress(): Promise<'::' | '0.0.0.0'> {
  cached ??= new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve('0.0.0.0'));
    probe.listen(0, '::', () => probe.close(() => resolve('::')));
  });
  return cached;
}
