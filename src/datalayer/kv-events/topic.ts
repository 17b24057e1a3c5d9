/**
 * The llm-d KV-event topic `kv@<pod-address>@<model>` (llm-d configures vLLM's
 * `--kv-events-config topic` this way; kvgate sim's fleets publish `kv@<host>:<port>@<model>`).
 * The address is an IP, or host:port; the model is everything after the second `@`.
 * Returns null for any other topic.
 */
export function parseKvTopic(topic: string): { address: string; model: string } | null {
  if (!topic.startsWith('kv@')) return null;
  const at = topic.indexOf('@', 3);
  if (at <= 3 || at === topic.length - 1) return null;
  return { address: topic.slice(3, at), model: topic.slice(at + 1) };
}
