import OpenAI from 'openai';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import type { SimOptionsInput } from '../../src/sim/options.js';
import { parsePromText } from '../helpers/prom-text.js';

export const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
export const JSON_HEADERS = { 'content-type': 'application/json' };

/** An in-process simulator on an ephemeral port (instant profile, vLLM's Content-Type rule, unless told otherwise). */
export function sim(opts: SimOptionsInput = {}): Promise<RunningSim> {
  return startSimServer({ port: 0, profile: 'instant', requireJsonContentType: true, ...opts });
}

/** The official client pointed at a simulator. */
export function openai(s: RunningSim): OpenAI {
  return new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

// Tests read arbitrary fields of OpenAI and vLLM responses.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** POSTs JSON and returns status, headers and the parsed body (or the text when it is not JSON). */
export async function post(s: RunningSim | string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: Json; text: string }> {
  const base = typeof s === 'string' ? s : s.url;
  const r = await fetch(`${base}${path}`, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json: Json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* SSE, plain text or empty */
  }
  return { status: r.status, headers: r.headers, json, text };
}

/** The JSON payloads of an SSE body, up to (not including) [DONE]; `done` says whether [DONE] came. */
export function sseEvents(text: string): { events: Json[]; done: boolean } {
  const events: Json[] = [];
  let done = false;
  for (const block of text.split('\n\n')) {
    const line = block.trim();
    if (!line.startsWith('data: ')) continue;
    const data = line.slice(6);
    if (data === '[DONE]') done = true;
    else events.push(JSON.parse(data));
  }
  return { events, done };
}

export async function metrics(s: RunningSim) {
  return parsePromText(await (await fetch(`${s.url}/metrics`)).text());
}

/** Polls until `cond` holds (generous deadline; never a fixed sleep). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A port p with p and p+1 both free a moment ago (data-parallel ranks listen on consecutive ports). */
export async function freePortPair(): Promise<number> {
  const { createServer } = await import('node:net');
  const tryListen = (port: number) =>
    new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  const { freePort } = await import('../helpers/ports.js');
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p < 65535 && (await tryListen(p + 1))) return p;
  }
  throw new Error('no two consecutive free ports');
}
