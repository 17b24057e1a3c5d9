import type { RequestOutcome } from '../engine/types.js';
import { contextLengthError } from '../shared/context-length.js';
import type { EffectiveConfig } from '../router/index.js';
import type { BenchRequest, ChatMessage } from '../bench/workloads.js';
import { Conversation, units, type Unit } from '../bench/units.js';
import { poissonGapsMs, seededRandom } from '../bench/stats.js';
import { mixSeed } from '../shared/seed.js';
import { KvgateError } from '../shared/errors.js';
import { buildFleet, type ReplicaGroup } from './fleet.js';
import { ScrapeModel } from './metrics-scrape.js';
import { RouterAdapter } from './router-adapter.js';
import { EventLoop } from './event-loop.js';
import { PrefixOracle, TraceBlockOracle } from './oracle.js';
import { TRACE_BLOCK_TOKENS } from '../bench/trace.js';
import type { RequestPreparer } from './requests.js';
import { readsKvEvents, SimulatedKvEvents } from './kv-events.js';
import { createRouterTokenizer } from '../shared/tokenizer/index.js';

/** How requests arrive: Poisson stages, a closed loop, or a trace's own timestamps. */
export type LoadSpec =
  | { kind: 'stages'; stages: { rate: number; durationS: number }[] }
  | { kind: 'closed'; concurrency: number; numRequests?: number }
  | { kind: 'trace'; windowMs: number };

/** The data paths between client, gateway and replicas, modelled as delays. */
export interface PathModel {
  /** One-way latency of each hop (client↔gateway, gateway↔replica), ms. */
  networkLatencyMs: number;
  /** Gateway time per request before it goes upstream (body read, parse, pick), ms. */
  gatewayOverheadMs: number;
  /**
   * The model server's API front end tokenizes a prompt before its engine sees it: prompt tokens
   * per ms (HF fast tokenizers manage 1–2 M tokens/s; kvgate sim's estimate tokenizer ~2 M). 0 = instant.
   */
  tokenizeTokensPerMs: number;
  /** Metrics scrape period per replica, ms (the gateway's 50 ms). */
  metricsIntervalMs: number;
  /** Replica state to router: how old a scrape is when the router gets it, ms. */
  scrapeLatencyMs: number;
  /**
   * The engines publish KV events (vLLM's --kv-events-config) and the gateway subscribes, as
   * `kvgate up` wires them; false models a fleet without them (precise matching falls back to the
   * approximate index).
   */
  kvEvents: boolean;
  /** End of an engine step to its KV-event batch applied in the router's index, ms. */
  kvEventLatencyMs: number;
  /** The gateway queue and dispatch gate (router/flowcontrol), on by default as in `kvgate serve`; false = `--no-flow-control`. */
  flowControl: boolean;
}

export interface PolicyRunInput {
  policy: string;
  config: EffectiveConfig;
  fleet: ReplicaGroup[];
  /** The workload; trace requests carry `arrivalMs`. Shared across policies (never mutated). */
  reqs: BenchRequest[];
  load: LoadSpec;
  seed: number;
  path: PathModel;
  /** Prepares workload requests (bodies with the served model name, engine token ids); shared across policies. */
  preparer: RequestPreparer;
  /** Told the virtual time reached (ms from the start) every few thousand events, for progress lines; changes nothing. */
  onProgress?: (simulatedMs: number) => void;
}

/** What the client saw of one request (times in ms; startMs from the run's start). */
export interface RequestRecord {
  stage: number;
  startMs: number;
  ok: boolean;
  /** HTTP status the client got (200, or the error's). */
  status: number;
  /** The error body's message, as a client would read it (failed requests only). */
  error?: string;
  ttftMs?: number;
  e2eMs: number;
  promptTokens: number;
  cachedTokens: number;
  /** Tokens an infinite, perfectly placed cache would have served. */
  oracleCachedTokens: number;
  outputTokens: number;
  /** Index of the replica that served it. */
  replica?: number;
  /** Time in the engine's waiting queue (vLLM's request_queue_time). */
  queueMs?: number;
  /**
   * The router's prefix match on the endpoint it chose, in tokens (matched blocks × block tokens),
   * and where it came from: the engines' KV events ('exact') or the router's own record ('approx').
   * Undefined for policies without a prefix producer.
   */
  routerMatchedTokens?: number;
  matchSource?: 'exact' | 'approx';
  preemptions: number;
}

export interface ReplicaRecord {
  id: string;
  profile: string;
  preemptions: number;
  /**
   * Attempts the replica answered with an error status before scheduling them (a 400 for a prompt
   * over its max_model_len), whether the client got that answer or the gateway moved on.
   */
  refused: number;
  steps: number;
}

export interface PolicyRun {
  policy: string;
  source: string;
  records: RequestRecord[];
  replicas: ReplicaRecord[];
  /** Virtual time from the first arrival to the last completion, ms. */
  simulatedMs: number;
  /** Offered rate per stage (requests/s; null for a closed loop). */
  offered: (number | null)[];
  /** Timer events the loop fired (a measure of simulation work). */
  events: number;
  /** Mean of vllm:num_requests_waiting over every scrape of every replica (what a dashboard averages). */
  waitingMean: number;
  /** The router's own view: picks made, prefix blocks it matched on the chosen endpoints, requests still open at the end. */
  router: { picks: number; matchedBlocks: number; openAtEnd: number };
}

/**
 * Runs one routing policy over a freshly built fleet, in virtual time: one discrete-event loop
 * (engine steps, arrivals, scrapes, network hops all timers on one VirtualClock), no wall-clock
 * reads, every random draw from a stream seeded by `seed`. Arrivals follow `kvgate bench`
 * exactly (src/bench/runner.ts): Poisson stages draw gaps from seededRandom(seed + stage) and a
 * stage ends when its arrivals stop and its requests finish; a closed loop keeps `concurrency`
 * units going; units (single requests or whole conversations) are taken from the workload in
 * order, cycling.
 */
export async function runPolicy(input: PolicyRunInput): Promise<PolicyRun> {
  const clock = new EventLoop();
  clock.onProgress = input.onProgress;
  const withEvents = input.path.kvEvents && readsKvEvents(input.config);
  const replicas = buildFleet(input.fleet, clock, input.seed, withEvents);
  // The gateway's KV-event intake and router-side tokenizer (`--tokenizer estimate`, the engines' own), for policies that read them.
  const kv = withEvents ? { kvEvents: new SimulatedKvEvents(clock, replicas, input.path.kvEventLatencyMs).view, tokenizer: await createRouterTokenizer('estimate') } : {};
  const gateway = new RouterAdapter(input.config, seededRandom(mixSeed(input.seed, 0x2545f491)), replicas.map((r) => r.info), clock, kv, input.path.flowControl);
  for (const r of replicas) gateway.setServedModel(r.info.id, input.preparer.model, r.maxModelLen);
  const byId = new Map(replicas.map((r) => [r.info.id, r]));
  // The oracle is an upper bound: in a mixed fleet it counts at the finest block size any replica caches at.
  const oracleBlockSize = Math.min(...replicas.map((r) => r.engine.blockSize));
  const oracle = new PrefixOracle(oracleBlockSize);
  const traceOracle = new TraceBlockOracle(oracleBlockSize, TRACE_BLOCK_TOKENS);
  const net = input.path.networkLatencyMs;
  const scrape = new ScrapeModel(clock, replicas, (id, m) => gateway.updateMetrics(id, m), {
    intervalMs: input.path.metricsIntervalMs,
    latencyMs: input.path.scrapeLatencyMs,
  });
  const records: RequestRecord[] = [];
  /** ReplicaRecord.refused, by replica index. */
  const refused = replicas.map(() => 0);
  let nextId = 0;
  let firstArrival = Infinity;
  let lastDone = 0;

  /** Sends one request; `done(ok, answerText)` when the client has the whole response. */
  function send(req: BenchRequest, messages: ChatMessage[] | undefined, stage: number, done: (ok: boolean, text: string) => void): void {
    const t0 = clock.now();
    firstArrival = Math.min(firstArrival, t0);
    const id = `r${nextId++}`;
    const prep = input.preparer.prepare(req, messages);
    const rec: RequestRecord = {
      stage,
      startMs: t0,
      ok: false,
      status: 0,
      e2eMs: 0,
      promptTokens: prep.promptTokenIds.length,
      cachedTokens: 0,
      oracleCachedTokens: req.trace ? traceOracle.lookupAndAdd(req.trace.hashIds, req.trace.inputLength) : oracle.lookupAndAdd(prep.promptTokenIds),
      outputTokens: 0,
      preemptions: 0,
    };
    const wantText = req.conversation !== undefined;
    const generated: number[] = [];
    const finishClient = (status: number, error?: string) => {
      rec.status = status;
      if (error !== undefined) rec.error = error;
      rec.ok = status === 200;
      rec.e2eMs = clock.now() - t0;
      lastDone = Math.max(lastDone, clock.now());
      records.push(rec);
      done(rec.ok, wantText ? input.preparer.decode(generated) : '');
    };
    const arriveAtGateway = () => {
      gateway.admit(prep.path, prep.body, {
        reject: (status, message) => clock.setTimer(() => finishClient(status, message), net),
        dispatch: function dispatch(endpoint, h) {
          const replica = byId.get(endpoint.id)!;
          rec.replica = replica.index;
          const pm = h.pick?.prefixMatch;
          if (pm) {
            rec.routerMatchedTokens = pm.matchedBlocks * (pm.blockTokens ?? 0);
            rec.matchSource = pm.source ?? 'approx';
          }
          // An error answer: back through the gateway (which finishes the lifecycle) to the client,
          // or on to the next replica when the lifecycle moves on (a window the request outgrew).
          const fail = (status: number, message: string) => {
            refused[replica.index]++;
            clock.setTimer(() => {
              const next = gateway.failed(h, status, message);
              if (next) dispatch(next, h);
              else clock.setTimer(() => finishClient(status, message), net);
            }, net);
          };
          const n = prep.promptTokenIds.length;
          const tokenizeMs = input.path.tokenizeTokensPerMs > 0 ? n / input.path.tokenizeTokensPerMs : 0;
          clock.setTimer(() => {
            // The replica's own checks, as `kvgate sim` / vLLM answer 400 before scheduling.
            const tooLong = contextLengthError(replica.maxModelLen, n, prep.maxTokens);
            if (tooLong) return fail(400, tooLong.message);
            try {
              replica.engine.submit(
                { id, promptTokenIds: prep.promptTokenIds, maxTokens: prep.maxTokens, ignoreEos: true },
                {
                  onToken: (tokenId, index, nowMs) => {
                    if (wantText) generated.push(tokenId);
                    if (index !== 0) return;
                    // First byte: gateway one hop later, client two.
                    rec.ttftMs = nowMs + 2 * net - t0;
                    clock.setTimer(() => gateway.firstByte(h), net);
                  },
                  onFinish: (o: RequestOutcome) => {
                    rec.cachedTokens = o.cachedTokens;
                    rec.outputTokens = o.completionTokens;
                    rec.preemptions = o.preemptions;
                    if (o.timings.scheduledMs !== undefined) rec.queueMs = o.timings.scheduledMs - o.timings.arrivalMs;
                    clock.setTimer(() => {
                      gateway.complete(h, { promptTokens: o.promptTokens, completionTokens: o.completionTokens, cachedTokens: o.cachedTokens });
                      if (wantText) oracle.add([...prep.promptTokenIds, ...generated]);
                      clock.setTimer(() => finishClient(200), net);
                    }, net);
                  },
                },
              );
            } catch (err) {
              if (err instanceof KvgateError) return fail(err.status, err.message);
              throw err;
            }
          }, net + tokenizeMs);
        },
      });
    };
    clock.setTimer(() => clock.setTimer(arriveAtGateway, input.path.gatewayOverheadMs), net);
  }

  function runUnit(unit: Unit, stage: number, done: () => void): void {
    const conversation = new Conversation();
    let i = 0;
    const next = () => {
      if (i >= unit.length) return done();
      const req = unit[i++];
      send(req, conversation.messagesFor(req), stage, (ok, text) => {
        conversation.answered(req, text);
        if (!ok && req.conversation !== undefined) return done(); // a broken conversation cannot go on
        next();
      });
    };
    next();
  }

  const all = input.load.kind === 'trace' ? [] : units(input.reqs);
  let taken = 0;
  const take = () => all[taken++ % all.length];
  const offered: (number | null)[] = [];
  const finished = () => scrape.stop();

  // The load starts once every replica has been scraped, as a gateway running before its clients would have.
  const startLoad = () => {
    const load = input.load;
    if (load.kind === 'trace') {
      let pending = input.reqs.length;
      const counts: number[] = [];
      for (const r of input.reqs) {
        const stage = Math.floor((r.arrivalMs ?? 0) / load.windowMs);
        while (counts.length <= stage) counts.push(0);
        counts[stage]++;
        clock.setTimer(() => runUnit([r], stage, () => --pending === 0 && finished()), r.arrivalMs ?? 0);
      }
      offered.push(...counts.map((c) => c / (load.windowMs / 1000)));
      if (pending === 0) finished();
    } else if (load.kind === 'closed') {
      offered.push(null);
      const total = load.numRequests ?? all.length;
      let started = 0;
      let workers = Math.min(load.concurrency, total);
      const worker = () => {
        if (started >= total) {
          if (--workers === 0) finished();
          return;
        }
        started++;
        runUnit(take(), 0, worker);
      };
      if (workers === 0) finished();
      for (let w = Math.min(load.concurrency, total); w > 0; w--) worker();
    } else {
      offered.push(...load.stages.map((s) => s.rate));
      const runStage = (si: number) => {
        if (si >= load.stages.length) return finished();
        const st = load.stages[si];
        const random = seededRandom(input.seed + si);
        const end = clock.now() + st.durationS * 1000;
        let inflight = 0;
        let arriving = true;
        const maybeEnd = () => {
          if (!arriving && inflight === 0) runStage(si + 1);
        };
        const arrive = () => {
          if (clock.now() >= end) {
            arriving = false;
            return maybeEnd();
          }
          inflight++;
          runUnit(take(), si, () => {
            inflight--;
            maybeEnd();
          });
          clock.setTimer(arrive, poissonGapsMs(st.rate, 1, random)[0]);
        };
        clock.setTimer(arrive, poissonGapsMs(st.rate, 1, random)[0]);
      };
      runStage(0);
    }

  };

  scrape.start();
  clock.setTimer(startLoad, input.path.metricsIntervalMs);
  await clock.runAll();
  return {
    policy: input.policy,
    source: input.config.source,
    records,
    replicas: replicas.map((r) => ({ id: r.info.id, profile: r.group.profile, preemptions: r.engine.stats().preemptions, refused: refused[r.index], steps: r.engine.steps })),
    simulatedMs: records.length ? lastDone - firstArrival : 0,
    offered,
    events: clock.events,
    waitingMean: scrape.counts.scrapes ? scrape.counts.waitingSum / scrape.counts.scrapes : 0,
    router: {
      picks: gateway.director.router.stats.picks,
      matchedBlocks: gateway.director.router.stats.prefixBlocksMatched,
      openAtEnd: gateway.director.inFlight,
    },
  };
}
