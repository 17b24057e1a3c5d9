/**
 * Time per output token as vLLM computes it (and GIE's latency plugins after it): the time after
 * the first token spread over the tokens that followed it, (e2e − ttft) ÷ (output tokens − 1), in
 * the unit of `e2e` and `ttft` (both from the request's start). Undefined below 2 output tokens:
 * no token followed the first.
 */
export function timePerOutputToken(e2e: number, ttft: number, outputTokens: number): number | undefined {
  return outputTokens >= 2 ? (e2e - ttft) / (outputTokens - 1) : undefined;
}
