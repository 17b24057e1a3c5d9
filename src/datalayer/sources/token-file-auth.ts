import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';

/** client-node's authenticator interface (not exported by name from its index). */
type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

/**
 * The auth-provider name kvgate gives an in-cluster user. It must differ from client-node's own
 * `tokenFile` provider (matched by `authProvider.config.tokenFile`), which caches the token for
 * 60 s and sends it untrimmed.
 */
export const TOKEN_FILE_PROVIDER = 'kvgate-token-file';

/**
 * Bearer authentication from a token file, read again for every request (list, watch, get):
 * the kubelet rewrites a projected service-account token about hourly, so a token read once at
 * start stops working; a file read per request never sends a rotated-out token. Trailing (and
 * leading) whitespace is trimmed — a token written with a newline (a hand-made Secret, `echo`)
 * would otherwise be an illegal header value. A few requests a minute at most, so the read's cost
 * does not matter.
 *
 * The file path is `user.authProvider.config.path`. Throws (failing that request, which the
 * informer retries) when the file cannot be read or is empty, naming the file.
 */
export class TokenFileAuth implements Authenticator {
  isAuthProvider(user: Parameters<Authenticator['isAuthProvider']>[0]): boolean {
    return (user.authProvider as { name?: unknown } | undefined)?.name === TOKEN_FILE_PROVIDER;
  }

  async applyAuthentication(user: Parameters<Authenticator['applyAuthentication']>[0], opts: Parameters<Authenticator['applyAuthentication']>[1]): Promise<void> {
    const path = String((user.authProvider as { config?: { path?: unknown } }).config?.path ?? '');
    let token: string;
    try {
      token = (await readFile(path, 'utf8')).trim();
    } catch (err) {
      // A sentence naming the file (the in-cluster user has no exec plugin, so describeKubeError prints it as is).
      throw new Error(`cannot read the service-account token ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (!token) throw new Error(`the service-account token ${path} is empty`);
    const headers = (opts.headers ??= {}) as Record<string, string | string[] | number | undefined>;
    headers.Authorization = `Bearer ${token}`;
  }
}

/** Makes `kc`'s current user authenticate with the token in `path`, read per request (see TokenFileAuth). */
export function useTokenFile(kc: KubeConfig, path: string): void {
  const user = kc.getCurrentUser();
  if (!user) return;
  kc.users = kc.users.map((u) => (u === user ? { ...u, token: undefined, authProvider: { name: TOKEN_FILE_PROVIDER, config: { path } } } : u));
  kc.addAuthenticator(new TokenFileAuth());
}
