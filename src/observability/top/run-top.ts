import { createElement as h, useEffect, useState } from 'react';
import { Text, render, renderToString, useApp, useInput } from 'ink';
import type { FleetEvent, FleetSnapshot, HistoryPoint } from '../fleet-snapshot.js';
import { readFleetEvents, type FeedOptions } from './feed-client.js';
import { FleetView } from './fleet-view.js';

export interface TopOptions extends FeedOptions {
  /** Print one frame and exit (also when stdout is not a terminal). */
  once: boolean;
  stdout?: NodeJS.WriteStream;
}

const MAX_POINTS = 300;

function merge(history: HistoryPoint[], e: FleetEvent): HistoryPoint[] {
  let out = e.history ? e.history.slice(-MAX_POINTS) : history;
  if (e.point) {
    out = out.filter((p) => p.atMs < e.point!.atMs);
    out.push(e.point);
    if (out.length > MAX_POINTS) out = out.slice(-MAX_POINTS);
  }
  return out;
}

/** One frame from the first event of the feed, as text (ANSI colours when `colors`). */
export async function topFrame(o: FeedOptions & { columns: number }): Promise<string> {
  const abort = new AbortController();
  try {
    for await (const e of readFleetEvents({ ...o, signal: abort.signal })) {
      return renderToString(h(FleetView, { snapshot: e.snapshot, history: merge([], e), source: o.url, columns: o.columns, recentRows: 10 }), { columns: o.columns });
    }
    throw new Error(`${o.url}/dashboard/events closed before sending an event`);
  } finally {
    abort.abort();
  }
}

function TopApp(p: { o: TopOptions; onError: (e: unknown) => void }) {
  const { exit } = useApp();
  const [state, setState] = useState<{ snapshot?: FleetSnapshot; history: HistoryPoint[]; status: string }>({ history: [], status: 'connecting' });
  const [size, setSize] = useState({ columns: p.o.stdout?.columns ?? 100, rows: p.o.stdout?.rows ?? 40 });
  useInput((input, key) => {
    if (input === 'q' || (key.ctrl && input === 'c')) exit();
  });
  useEffect(() => {
    const out = p.o.stdout;
    const onResize = () => setSize({ columns: out?.columns ?? 100, rows: out?.rows ?? 40 });
    out?.on('resize', onResize);
    return () => void out?.off('resize', onResize);
  }, [p.o.stdout]);
  useEffect(() => {
    const abort = new AbortController();
    void (async () => {
      // Reconnect with a short pause while the process lives; the first failure is fatal (bad URL or key).
      for (let attempt = 0; !abort.signal.aborted; attempt++) {
        try {
          for await (const e of readFleetEvents({ ...p.o, signal: abort.signal })) setState((s) => ({ snapshot: e.snapshot, history: merge(s.history, e), status: 'live' }));
          setState((s) => ({ ...s, status: 'stream ended, reconnecting' }));
        } catch (err) {
          if (attempt === 0) {
            p.onError(err);
            exit();
            return;
          }
          setState((s) => ({ ...s, status: `reconnecting: ${(err as Error).message}` }));
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    return () => abort.abort();
  }, []);
  if (!state.snapshot) return h(Text, null, `kvgate top — ${state.status} to ${p.o.url} …`);
  // Rows used by everything but the last requests: header 3, table head 1 + replicas, blank, sparklines 6, blank, title.
  const fixed = 13 + state.snapshot.replicas.length;
  return h(FleetView, { snapshot: state.snapshot, history: state.history, source: p.o.url, columns: size.columns, recentRows: Math.max(3, size.rows - fixed - 1), status: state.status });
}

/**
 * `kvgate top`: the live dashboard in the terminal, from `{url}/dashboard/events`. With `once` (or
 * stdout not a TTY) prints one frame and returns; otherwise redraws every second until `q` / Ctrl-C.
 */
export async function runTop(o: TopOptions): Promise<void> {
  const stdout = o.stdout ?? process.stdout;
  if (o.once || !stdout.isTTY) {
    stdout.write(`${await topFrame({ ...o, columns: stdout.columns ?? 120 })}\n`);
    return;
  }
  let failure: unknown;
  const app = render(h(TopApp, { o: { ...o, stdout }, onError: (e) => (failure = e) }), { stdout, exitOnCtrlC: false });
  await app.waitUntilExit();
  if (failure) throw failure;
}
