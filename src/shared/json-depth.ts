import { KvgateError, ErrorCode } from './errors.js';

/**
 * Deepest nesting of arrays and objects a request body may have. OpenAI bodies nest a few levels
 * (messages → content parts → image_url; json_schema response formats a few dozen); Python's json
 * module, which vLLM parses with, fails near 1,000. Anything deeper is rejected before any
 * recursive walk (JSON.stringify, a template renderer) could overflow the stack.
 */
export const MAX_JSON_DEPTH = 256;

/**
 * Throws InvalidRequest (400) when `body` nests deeper than `maxDepth`. Scans bytes without
 * parsing: strings are skipped with native `indexOf` (a quote preceded by an odd run of
 * backslashes is escaped), so a 400 KB prompt costs a few hundred microseconds at most.
 * Malformed JSON is left for the parser to report.
 */
export function assertJsonDepth(body: Buffer, maxDepth = MAX_JSON_DEPTH): void {
  let depth = 0;
  const n = body.length;
  for (let i = 0; i < n; i++) {
    const c = body[i];
    if (c === 0x22 /* " */) {
      let j = i;
      for (;;) {
        j = body.indexOf(0x22, j + 1);
        if (j < 0) return; // unterminated string: the parser's error
        let k = j - 1;
        while (body[k] === 0x5c /* \ */) k--;
        if ((j - 1 - k) % 2 === 0) break;
      }
      i = j;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) {
        throw new KvgateError(ErrorCode.InvalidRequest, `request body nests deeper than ${maxDepth} levels`);
      }
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
}
