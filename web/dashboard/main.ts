// The live dashboard page: reads /dashboard/events (SSE) and draws the fleet with uPlot.
// Bundled by scripts/build-dashboard.mjs into dist/dashboard/index.html (no network at run time).
import uPlot from 'uplot';
import { clockTime, type FleetEvent, type FleetSnapshot, type HistoryPoint, type DecisionReason, type ReplicaSnapshot, type RecentRequest } from '../../src/observability/fleet-snapshot.ts';

const REASONS: DecisionReason[] = ['prefix-hit', 'load', 'fallback', 'shed'];
const REASON_COLORS: Record<DecisionReason, string> = { 'prefix-hit': '#3fb96f', load: '#4f8fe6', fallback: '#d29922', shed: '#e5534b' };
const PALETTE = ['#4f8fe6', '#3fb96f', '#d29922', '#c66bd6', '#e5534b', '#39c5cf', '#f0883e', '#a5d6ff', '#7ee787', '#ff9bce'];
const MAX_POINTS = 300;

interface ChartState {
  plot: uPlot | undefined;
  /** Series labels after the x axis. */
  labels: string[];
  data: (number | null)[][];
}

/** What tests and curious people can read: `window.kvgateDashboard`. */
const state = {
  updates: 0,
  snapshot: undefined as FleetSnapshot | undefined,
  history: [] as HistoryPoint[],
  charts: {} as Record<string, ChartState>,
};
(window as unknown as { kvgateDashboard: typeof state }).kvgateDashboard = state;

const $ = (id: string) => document.getElementById(id)!;
const fmtMs = (v: number | null) => (v === null ? '–' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toString());
const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)} %`);
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const colorOf = (i: number) => PALETTE[i % PALETTE.length];

function cell(field: string, value: number | string | null, text?: string): string {
  const v = value === null ? '' : String(value);
  return `<td data-field="${field}" data-value="${esc(v)}">${text ?? esc(v === '' ? '–' : v)}</td>`;
}

function bar(v: number | null): string {
  if (v === null) return '–';
  const cls = v >= 0.95 ? 'full' : v >= 0.8 ? 'hot' : '';
  return `${(v * 100).toFixed(1)} %<span class="bar"><i class="${cls}" style="width:${Math.min(100, v * 100).toFixed(1)}%"></i></span>`;
}

function renderCards(s: FleetSnapshot): void {
  $('pool').textContent = s.pool;
  const ready = s.replicas.filter((r) => r.healthy).length;
  $('c-ready').textContent = `${ready} / ${s.replicas.length}`;
  $('c-ready').className = `v ${ready === 0 ? 'down' : ''}`;
  const rate = REASONS.reduce((a, r) => a + s.decisionsPerSecond[r], 0);
  $('c-rate').textContent = rate.toFixed(1);
  $('c-hit').textContent = s.completions.promptTokens > 0 ? pct(s.completions.cachedTokens / s.completions.promptTokens) : '–';
  $('c-ttft').textContent = `${fmtMs(s.latency.ttftMs.p50)} / ${fmtMs(s.latency.ttftMs.p99)} ms`;
  $('c-tpot').textContent = `${fmtMs(s.latency.tpotMs.p50)} / ${fmtMs(s.latency.tpotMs.p99)} ms`;
  $('c-err').textContent = `${s.completions.errors} / ${s.completions.total}`;
}

function renderReplicas(rs: ReplicaSnapshot[]): void {
  const rows = rs.map(
    (r) =>
      `<tr data-replica="${esc(r.id)}"><td data-field="id">${esc(r.id)}</td>` +
      cell('healthy', r.healthy ? 1 : 0, r.healthy ? '<span class="up">up</span>' : '<span class="down">down</span>') +
      cell('running', r.running) +
      cell('waiting', r.waiting) +
      cell('gatewayQueue', r.gatewayQueue) +
      cell('inFlight', r.inFlight) +
      cell('kvUsage', r.kvUsage, bar(r.kvUsage)) +
      cell('prefixHitRate', r.prefixHitRate, pct(r.prefixHitRate)) +
      cell('requests', r.requests) +
      cell('errors', r.errors) +
      '</tr>',
  );
  // An empty pool said nothing: a bare header row, as if the page had not loaded yet.
  const empty = '<tr class="empty"><td colspan="10">no replicas: the pool has no endpoints (check --endpoints, the endpoints file or the InferencePool\'s Ready pods)</td></tr>';
  $('replicas').querySelector('tbody')!.innerHTML = rows.length ? rows.join('') : empty;
}

function renderRecent(rs: RecentRequest[]): void {
  const rows = rs.slice(0, 15).map((r) => {
    const time = clockTime(r.atMs);
    const scores = r.scores
      .map((s) => `<b>${esc(s.endpoint)}</b> ${s.total.toFixed(2)} · ${Object.entries(s.byPlugin).map(([k, v]) => `${esc(k)} ${v.toFixed(2)}`).join(', ')}`)
      .join('<br>');
    return (
      `<tr data-seq="${r.seq}"><td>${time}</td><td title="${esc(r.requestId)}">${esc(r.requestId.slice(0, 12))}</td>` +
      `<td>${esc(r.endpoint ?? '–')}</td><td><span class="reason ${r.reason}">${r.reason}</span></td>` +
      `<td>${r.status ?? '…'}</td><td>${r.ttftMs === null ? '–' : `${fmtMs(r.ttftMs)} ms`}</td>` +
      `<td>${r.promptTokens === null ? '–' : `${r.cachedTokens ?? 0} / ${r.promptTokens}`}</td><td class="scores">${scores || '–'}</td></tr>`
    );
  });
  $('recent').querySelector('tbody')!.innerHTML = rows.join('');
}

/** An x tick: HH:MM when the ticks are whole minutes apart, else HH:MM:SS (as the request table's times). */
function tickTime(ms: number, incrSeconds: number): string {
  return incrSeconds >= 60 && incrSeconds % 60 === 0 ? new Date(ms).toLocaleTimeString([], { hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }) : clockTime(ms);
}

/** The x axis' tick steps, seconds: whole seconds and minutes up to the 5-minute history (MAX_POINTS) and beyond. */
const X_TICK_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

/** The local date of the charts' times, e.g. 2026-12-01 (the ticks carry the time only). */
function localDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function chartWidth(el: HTMLElement): number {
  return Math.max(260, el.clientWidth);
}

/** (Re)creates a chart when its series change, otherwise feeds it new data. */
function drawChart(id: string, labels: string[], colors: string[], data: (number | null)[][], opts: { stacked?: boolean; yRange?: [number, number] } = {}): void {
  const el = $(id);
  const st = state.charts[id];
  if (!st || st.labels.join('\u0000') !== labels.join('\u0000')) {
    st?.plot?.destroy();
    const plot = new uPlot(
      {
        width: chartWidth(el),
        height: 220,
        legend: { show: true, live: false },
        // Room on the right for half of the last HH:MM:SS tick, which is centred on its tick.
        padding: [null, 30, null, null],
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: opts.yRange ? { range: opts.yRange } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          // One-line clock times: uPlot's default time ticks put the date under the first tick
          // ("12/1/26 7:09am" below ":20"), which ran into the next minute's "7:10am" on a narrow
          // chart. The date is in the header's live line instead; `space` keeps HH:MM:SS apart.
          // `incrs`: whole-second steps only. The points are a second apart, and with a few seconds of
          // history on a wide chart uPlot chose half seconds, labelled "10:33:26, 10:33:26, 10:33:27, …".
          { stroke: '#8b97a5', grid: { stroke: '#2a3440' }, ticks: { stroke: '#2a3440' }, space: 72, incrs: X_TICK_STEPS_S, values: (_u, splits, _i, _space, incr) => splits.map((s) => tickTime(s * 1000, incr)) },
          { stroke: '#8b97a5', grid: { stroke: '#2a3440' }, ticks: { stroke: '#2a3440' }, size: 48 },
        ],
        series: [{}, ...labels.map((label, i) => ({ label, stroke: colors[i], width: 1.5, points: { show: false }, fill: opts.stacked ? `${colors[i]}33` : undefined, spanGaps: false }))],
      },
      data as uPlot.AlignedData,
      el,
    );
    state.charts[id] = { plot, labels, data };
    return;
  }
  st.data = data;
  st.plot!.setData(data as uPlot.AlignedData);
}

function renderCharts(): void {
  const h = state.history;
  const xs = h.map((p) => p.atMs / 1000);
  drawChart('ch-decisions', [...REASONS], REASONS.map((r) => REASON_COLORS[r]), [xs, ...REASONS.map((r) => h.map((p) => p.decisions[r]))], { stacked: true });
  drawChart(
    'ch-latency',
    ['TTFT p50', 'TTFT p99', 'TPOT p50', 'TPOT p99'],
    ['#4f8fe6', '#a5d6ff', '#3fb96f', '#7ee787'],
    [xs, h.map((p) => p.ttftP50Ms), h.map((p) => p.ttftP99Ms), h.map((p) => p.tpotP50Ms), h.map((p) => p.tpotP99Ms)],
  );
  const ids = state.snapshot?.replicas.map((r) => r.id) ?? [];
  const colors = ids.map((_, i) => colorOf(i));
  drawChart('ch-kv', ids, colors, [xs, ...ids.map((id) => h.map((p) => (p.replicas[id]?.kvUsage ?? null) === null ? null : p.replicas[id].kvUsage! * 100))], { yRange: [0, 100] });
  drawChart('ch-load', ids, colors, [
    xs,
    ...ids.map((id) =>
      h.map((p) => {
        const r = p.replicas[id];
        return r ? (r.running ?? 0) + (r.waiting ?? 0) + r.gatewayQueue : null;
      }),
    ),
  ]);
}

function onEvent(e: FleetEvent): void {
  if (e.history) state.history = e.history.slice(-MAX_POINTS);
  if (e.point) {
    const last = state.history[state.history.length - 1];
    if (last && last.atMs >= e.point.atMs) state.history.pop();
    state.history.push(e.point);
    if (state.history.length > MAX_POINTS) state.history.shift();
  }
  state.snapshot = e.snapshot;
  renderCards(e.snapshot);
  renderReplicas(e.snapshot.replicas);
  renderRecent(e.snapshot.recent);
  renderCharts();
  state.updates++;
  $('live').textContent = `live · ${localDate(e.snapshot.atMs)} ${clockTime(e.snapshot.atMs)}`;
}

/** Seconds between attempts once the browser has given up on the stream (the 503 for too many viewers says Retry-After: 5). */
const RECONNECT_S = 5;

/**
 * Follows /dashboard/events. When the stream breaks (the gateway stopped or restarted) the figures
 * on the page are the last ones received: the header says from when, and the page is dimmed
 * (`body.stale`), so a stopped fleet does not read as replicas that are up and idle. The browser
 * retries a broken connection by itself (the stream's `retry: 2000`) but gives up on an HTTP
 * error (401, 503): then the page opens a new stream every RECONNECT_S seconds.
 */
function connect(): void {
  const live = $('live');
  const es = new EventSource('/dashboard/events');
  es.addEventListener('fleet', (m) => {
    live.className = 'live on';
    document.body.classList.remove('stale');
    onEvent(JSON.parse((m as MessageEvent<string>).data) as FleetEvent);
  });
  es.onerror = () => {
    live.className = 'live off';
    const last = state.snapshot;
    live.textContent = last ? `reconnecting… · figures from ${localDate(last.atMs)} ${clockTime(last.atMs)}` : 'reconnecting…';
    if (last) document.body.classList.add('stale');
    if (es.readyState === EventSource.CLOSED) window.setTimeout(connect, RECONNECT_S * 1000);
  };
}

let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => {
    for (const [id, st] of Object.entries(state.charts)) st.plot?.setSize({ width: chartWidth($(id)), height: 220 });
  }, 100);
});

connect();
