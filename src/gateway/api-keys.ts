import { KeyDigests } from '../shared/key-digests.js';

/** The gateway's own bearer keys (`--api-key`, $KVGATE_API_KEYS), checked in constant time (shared/key-digests.ts). */
export class ApiKeys {
  private readonly keys: KeyDigests;

  constructor(keys: string[]) {
    this.keys = new KeyDigests(keys);
  }

  get enabled(): boolean {
    return this.keys.size > 0;
  }

  /** `Authorization: Bearer <key>` (scheme case-insensitive, spaces around the key ignored); true without keys. */
  check(authorization: string | undefined): boolean {
    if (!this.enabled) return true;
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    return this.keys.matches(m ? m[1].trim() : '');
  }
}
