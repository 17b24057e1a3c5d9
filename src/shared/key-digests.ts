import { createHash, timingSafeEqual } from 'node:crypto';

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * A set of secret keys a presented token is checked against in constant time: each key is kept
 * as its SHA-256 digest, the token is hashed and compared with every digest (timingSafeEqual, no
 * early exit), so neither the keys' lengths nor which key matched shows in the time taken. This is
 * how vLLM's AuthenticationMiddleware compares (sha256 digests, secrets.compare_digest over all).
 * Empty keys are dropped: they never match.
 */
export class KeyDigests {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.filter(Boolean).map(sha256);
  }

  /** How many (non-empty) keys there are. */
  get size(): number {
    return this.digests.length;
  }

  /** True when `token` equals one of the keys (always false without keys). */
  matches(token: string): boolean {
    const given = sha256(token);
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, given) || ok;
    return ok;
  }
}
