import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvgateError, ErrorCode } from '../shared/errors.js';

/**
 * The EPP serves TLS by default with a self-signed certificate, as the GIE EPP does. Node has no
 * X.509 writer, so it is made with openssl; `--cert-path DIR` (tls.crt, tls.key) avoids that.
 */
export function selfSignedCertificate(): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-epp-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-days', '365', '-subj', '/CN=kvgate-epp', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'tls.crt')), key: readFileSync(join(dir, 'tls.key')) };
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `cannot create a self-signed certificate (${(err as Error).message}); give --cert-path DIR with tls.crt and tls.key, or --secure-serving=false`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function certificateFromDir(dir: string): { cert: Buffer; key: Buffer } {
  const c = join(dir, 'tls.crt');
  const k = join(dir, 'tls.key');
  if (!existsSync(c) || !existsSync(k)) throw new KvgateError(ErrorCode.InvalidConfig, `--cert-path ${dir}: expected tls.crt and tls.key`);
  return { cert: readFileSync(c), key: readFileSync(k) };
}
