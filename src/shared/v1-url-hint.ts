/**
 * The hint for a `--url` that ends in `/v1` and got a 404 on `/v1/models`: an OpenAI client's
 * `base_url` ends in /v1 (the README's `openai` example), while verify's and bench's `--url` is the
 * server's root and they add `/v1/...` themselves, so `/v1/v1/models` is asked for. Returns
 * `" — --url ends in /v1 and <command> adds /v1/models itself: give <root>"`, or "" when the URL or
 * status do not fit (any other 404 is the server's own).
 */
export function v1SuffixHint(url: string, status: number, command: string): string {
  return status === 404 && /\/v1$/.test(url) ? ` — --url ends in /v1 and ${command} adds /v1/models itself: give ${url.slice(0, -3)}` : '';
}
