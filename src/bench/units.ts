import type { BenchRequest, ChatMessage } from './workloads.js';

/**
 * What one arrival starts: a single request, or every turn of a conversation in order (turn N+1
 * is sent when turn N's answer is complete, carrying the history). Shared by the real-time load
 * driver (runner.ts) and the virtual-time simulator so both send exactly the same requests.
 */
export type Unit = BenchRequest[];

/** Conversations run their turns in order; everything else is one request per unit. */
export function units(reqs: BenchRequest[]): Unit[] {
  const byConv = new Map<number, BenchRequest[]>();
  const out: Unit[] = [];
  for (const r of reqs) {
    if (r.conversation === undefined) out.push([r]);
    else {
      let u = byConv.get(r.conversation);
      if (!u) {
        byConv.set(r.conversation, (u = []));
        out.push(u);
      }
      u.push(r);
    }
  }
  return out;
}

/** The chat history of one running unit: the messages each turn sends, and the answers folded back in. */
export class Conversation {
  private readonly history: ChatMessage[] = [];

  /** Messages to send for `req`: its own, or (in a conversation) the history so far plus its new turn. */
  messagesFor(req: BenchRequest): ChatMessage[] | undefined {
    const messages = req.messages;
    if (req.conversation === undefined || !messages) return messages;
    if (this.history.length === 0) this.history.push(...messages.filter((m) => m.role === 'system'));
    this.history.push(...messages.filter((m) => m.role !== 'system'));
    return this.history.slice();
  }

  /** Folds the answer to `req` into the history (only conversations remember). */
  answered(req: BenchRequest, text: string): void {
    if (req.conversation !== undefined) this.history.push({ role: 'assistant', content: text });
  }
}
