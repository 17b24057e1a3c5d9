import { createElement as h, type ReactElement } from 'react';
import { Box, Text } from 'ink';
import { clockTime, DECISION_REASONS, type DecisionReason, type FleetSnapshot, type HistoryPoint, type ReplicaSnapshot } from '../fleet-snapshot.js';

export interface FleetViewProps {
  snapshot: FleetSnapshot;
  history: HistoryPoint[];
  source: string;
  /** Terminal width in columns. */
  columns: number;
  /** Rows of the last-requests list. */
  recentRows: number;
  status?: string;
}

const REASON_COLOR: Record<DecisionReason, string> = { 'prefix-hit': 'green', load: 'blue', fallback: 'yellow', shed: 'red' };
const SPARK = '▁▂▃▄▅▆▇█';

const ms = (v: number | null) => (v === null ? '–' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toString());
const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);
const num = (v: number | null) => (v === null ? '–' : String(v));

/** A one-line chart of the last `width` values (blank where null). */
export function sparkline(values: (number | null)[], width: number): string {
  const xs = values.slice(-width);
  const max = Math.max(0, ...xs.map((x) => x ?? 0));
  return xs.map((x) => (x === null ? ' ' : max === 0 ? SPARK[0] : SPARK[Math.min(7, Math.floor((x / max) * 7.999))])).join('');
}

function kvBar(v: number | null, width: number): ReactElement {
  if (v === null) return h(Text, { dimColor: true }, '–'.padEnd(width + 7));
  const filled = Math.round(Math.min(1, v) * width);
  const color = v >= 0.95 ? 'red' : v >= 0.8 ? 'yellow' : 'green';
  return h(Text, null, h(Text, { color }, '█'.repeat(filled)), h(Text, { dimColor: true }, '░'.repeat(width - filled)), ` ${pct(v).padStart(6)}`);
}

const COLS: [string, number][] = [
  ['RUN', 5],
  ['QUEUE', 6],
  ['GWQ', 5],
  ['INFL', 5],
];

function replicaRow(r: ReplicaSnapshot, idWidth: number, barWidth: number): ReactElement {
  return h(
    Box,
    { key: r.id },
    h(Text, null, r.id.slice(0, idWidth).padEnd(idWidth + 1)),
    h(Text, { color: r.healthy ? 'green' : 'red' }, (r.healthy ? 'up' : 'down').padEnd(5)),
    h(Text, null, [num(r.running), num(r.waiting), String(r.gatewayQueue), String(r.inFlight)].map((v, i) => v.padStart(COLS[i][1])).join('') + ' '),
    kvBar(r.kvUsage, barWidth),
    h(Text, null, ` ${pct(r.prefixHitRate).padStart(6)} ${String(r.requests).padStart(7)} ${String(r.errors).padStart(5)}`),
  );
}

/**
 * The fleet as one terminal frame: summary, replica table with KV bars, decisions per second by
 * reason and latency as sparklines over the last minute, then the last requests with their scores.
 * Pure: the same props give the same frame (used for `--once` and in tests).
 */
export function FleetView(p: FleetViewProps): ReactElement {
  const s = p.snapshot;
  const cols = Math.max(60, p.columns);
  const ready = s.replicas.filter((r) => r.healthy).length;
  const rate = DECISION_REASONS.reduce((a, r) => a + s.decisionsPerSecond[r], 0);
  const hit = s.completions.promptTokens > 0 ? s.completions.cachedTokens / s.completions.promptTokens : null;
  const idWidth = Math.min(28, Math.max(8, ...s.replicas.map((r) => r.id.length)));
  const barWidth = cols >= 110 ? 12 : 6;
  const sparkWidth = Math.max(10, Math.min(60, cols - 28));
  const time = clockTime(s.atMs);
  return h(
    Box,
    { flexDirection: 'column', width: cols },
    h(Text, null, h(Text, { bold: true }, 'kvgate top'), ` — pool ${s.pool} · ${p.source} · ${time}`, p.status ? h(Text, { dimColor: true }, ` · ${p.status}`) : null),
    h(
      Text,
      null,
      'ready ',
      h(Text, { color: ready === 0 ? 'red' : 'green', bold: true }, `${ready}/${s.replicas.length}`),
      `  decisions/s ${rate.toFixed(1)}  hit rate ${pct(hit)}  TTFT p50/p99 ${ms(s.latency.ttftMs.p50)}/${ms(s.latency.ttftMs.p99)} ms  TPOT ${ms(s.latency.tpotMs.p50)}/${ms(s.latency.tpotMs.p99)} ms  errors ${s.completions.errors}/${s.completions.total}`,
    ),
    h(Text, null, ' '),
    h(
      Text,
      { bold: true },
      `${'REPLICA'.padEnd(idWidth + 1)}${'STATE'.padEnd(5)}${COLS.map(([n, w]) => n.padStart(w)).join('')} ${'KV'.padEnd(barWidth + 7)} ${'HIT'.padStart(6)} ${'REQS'.padStart(7)} ${'ERR'.padStart(5)}`,
    ),
    ...s.replicas.map((r) => replicaRow(r, idWidth, barWidth)),
    h(Text, null, ' '),
    h(Text, { bold: true }, `LAST ${sparkWidth} s`),
    ...DECISION_REASONS.map((r) =>
      h(Text, { key: r }, h(Text, { color: REASON_COLOR[r] }, `${r.padEnd(11)}`), `${s.decisionsPerSecond[r].toFixed(1).padStart(6)}/s `, h(Text, { color: REASON_COLOR[r] }, sparkline(p.history.map((x) => x.decisions[r]), sparkWidth))),
    ),
    h(Text, null, `${'TTFT p99'.padEnd(11)}${ms(s.latency.ttftMs.p99).padStart(6)}ms `, h(Text, { color: 'cyan' }, sparkline(p.history.map((x) => x.ttftP99Ms), sparkWidth))),
    h(Text, null, ' '),
    h(Text, { bold: true }, 'LAST REQUESTS'),
    ...s.recent.slice(0, p.recentRows).map((r) => {
      const best = r.scores[0];
      const why = best ? `${best.endpoint} ${best.total.toFixed(2)} (${Object.entries(best.byPlugin).map(([k, v]) => `${k.replace(/-scorer$/, '')} ${v.toFixed(2)}`).join(', ')})` : '';
      const line = `${clockTime(r.atMs)} ${r.requestId.slice(0, 10).padEnd(10)} → ${(r.endpoint ?? '–').padEnd(idWidth)} `;
      const tail = ` ${String(r.status ?? '…').padStart(3)} ${r.ttftMs === null ? '' : `${ms(r.ttftMs)}ms `}${r.promptTokens === null ? '' : `${r.cachedTokens ?? 0}/${r.promptTokens} cached `}${why ? `best ${why}` : ''}`;
      return h(Text, { key: String(r.seq), wrap: 'truncate-end' }, line, h(Text, { color: REASON_COLOR[r.reason] }, r.reason.padEnd(10)), tail);
    }),
  );
}
