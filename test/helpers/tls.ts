import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, made with
 * openssl. Returns the paths: ca.crt, server.{crt,key}, client.{crt,key}.
 */
export function makeTestPki(): { dir: string; ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-tls-'));
  const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=kvgate-test-ca']);
  for (const n of ['server', 'client']) {
    sh(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${n === 'server' ? '127.0.0.1' : 'client'}`, '-addext', 'subjectAltName=IP:127.0.0.1']);
    sh(['x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${n}.crt`, '-days', '1', '-copy_extensions', 'copy']);
  }
  const p = (f: string) => join(dir, f);
  return { dir, ca: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key') };
}
