/**
 * The hint for a `--url` that ends in `/v1` and got a 404 on the path the command adds: an OpenAI
 * client's `base_url` ends in /v1 (the README's `openai` example), while verify's, bench's and
 * top's `--url` is the server's root and they add `/v1/models` (top: `/dashboard/events`)
 * themselves, so `/v1/v1/models` is asked for. Returns
 * `" — --url ends in /v1 and <command> adds <adds> itself: give <root>"`, or "" when the URL or
 * status do not fit (any other 404 is the server's own).
 */
export function v1SuffixHint(url: string, status: number, command: string, adds = '/v1/models'): string {
  return status === 404 && /\/v1$/.test(url) ? ` — --url ends in /v1 and ${command} adds ${adds} itself: give ${url.slice(0, -3)}` : '';
}
