import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
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
  const pair = { cert: readFileSync(c), key: readFileSync(k) };
  checkPair(dir, pair);
  return pair;
}

/**
 * Checks a --cert-path pair before the ext_proc port is bound: grpc-js reported a bad one as
 * "cannot listen on [::]:9002 (--grpc-port): error:0480006C:PEM routines::no start line", naming
 * the port. tls.crt must be a PEM certificate (the first of a chain is the server's), tls.key a
 * PEM private key, and the key the certificate's (node:crypto X509Certificate.checkPrivateKey).
 */
function checkPair(dir: string, pair: { cert: Buffer; key: Buffer }): void {
  const bad = (what: string, err?: unknown) => new KvgateError(ErrorCode.InvalidConfig, `--cert-path ${dir}: ${what}${err ? ` (${(err as Error).message})` : ''}`, { param: '--cert-path' });
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
  } catch (err) {
    throw bad('tls.crt is not a PEM certificate', err);
  }
  let key;
  try {
    key = createPrivateKey(pair.key);
  } catch (err) {
    throw bad('tls.key is not an unencrypted PEM private key', err);
  }
  if (!cert.checkPrivateKey(key)) throw bad("tls.key is not the private key of tls.crt's certificate");
}
