import { createHash, timingSafeEqual } from 'node:crypto';

/** Bearer-key check in constant time: compares SHA-256 digests so lengths never leak. */
export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: string[]) {
    this.digests = keys.filter(Boolean).map((k) => createHash('sha256').update(k).digest());
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  check(authorization: string | undefined): boolean {
    if (!this.enabled) return true;
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    const given = createHash('sha256').update(m ? m[1].trim() : '').digest();
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, given) || ok;
    return ok;
  }
}
