import { isIP } from 'node:net';

/**
 * A self-signed certificate for `host` (llm-d-inference-sim's --self-signed-certs), made in
 * process at start (no openssl binary needed). Valid 365 days; SAN covers the host, localhost
 * and 127.0.0.1.
 */
export async function selfSignedCertificate(host: string): Promise<{ cert: string; key: string }> {
  // Loaded on demand: the X.509 libraries behind it weigh ~10 MB of heap a server without TLS never needs.
  const { default: selfsigned } = await import('selfsigned');
  const altNames: { type: number; value?: string; ip?: string }[] = [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
  ];
  if (isIP(host)) altNames.push({ type: 7, ip: host });
  else altNames.push({ type: 2, value: host });
  const pems = await selfsigned.generate([{ name: 'commonName', value: host }], {
    days: 365,
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames }],
  } as Parameters<typeof import('selfsigned').generate>[1]);
  return { cert: pems.cert, key: pems.private };
}
