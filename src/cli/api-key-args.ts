import { InvalidArgumentError } from 'commander';

/**
 * Bearer keys on kvgate's command lines: the keys a server requires (`serve --api-key`,
 * `sim --api-key`). Keys are never echoed in an error or a log line.
 */

/**
 * `--api-key`, repeatable and comma-separated. A value with no key in it is an error, not "no
 * keys": `--api-key "$KEY"` with KEY unset would otherwise turn authentication off unnoticed.
 */
export function apiKeyArg(v: string, prev: string[] = []): string[] {
  const keys = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (keys.length === 0) throw new InvalidArgumentError('--api-key is empty (an unset variable in --api-key "$KEY"?): give a key, or leave --api-key out to serve without authentication');
  return [...prev, ...keys];
}
