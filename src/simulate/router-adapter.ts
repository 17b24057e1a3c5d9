import { createRouter, type EffectiveConfig, type KvEventsView, type PromptTokenizer } from '../router/index.js';
import { Director, type RequestHandle } from '../router/requestcontrol/index.js';
import type { EndpointInfo, EndpointMetrics, RequestUsage } from '../router/api.js';
import { toOpenAIError } from '../shared/errors.js';
import type { EventLoop } from './event-loop.js';

/** What the simulated gateway does once the lifecycle has decided. */
export interface AdmitCallbacks {
  /** Send the request upstream to `endpoint` now. */
  dispatch(endpoint: EndpointInfo, request: GatewayRequest): void;
  /** Answer the client with this error status and message now (shed 429, no endpoint 503, bad request 400, …). */
  reject(status: number, message: string): void;
}

/** One request inside the modelled gateway: the real lifecycle handle. */
export type GatewayRequest = RequestHandle;

const HEADERS = { 'content-type': 'application/json' };
/** The first streamed event a replica sends (what the gateway sees as the first byte). */
const FIRST_EVENT = Buffer.from('data: {"choices":[{"index":0,"text":" ","finish_reason":null}]}\n\n');

/**
 * The only place the simulator drives the router: through the real request lifecycle
 * (router/requestcontrol Director, as src/gateway/server.ts does) — parse the body, check the
 * model, pick, in-flight bookkeeping, first byte, usage tapped from the stream, finish — with the
 * virtual clock as its `now`. The lifecycle's API is promise-based; the event loop lets its
 * continuations run at the same virtual instant (EventLoop.settleAfterThisEvent), so a gateway
 * queue in front of the pick would be simulated as it is.
 */
export class RouterAdapter {
  readonly director: Director;
  /** Requests whose schedule() has not settled: waiting in the gateway queue (flow control) or being picked. */
  private scheduling = 0;

  /**
   * `kvEvents`: the engines' KV events as the gateway's intake holds them (simulate/kv-events.ts),
   * with `tokenizer` the router-side tokenizer precise matching uses (the gateway's `--tokenizer`).
   */
  constructor(
    config: EffectiveConfig,
    random: () => number,
    endpoints: EndpointInfo[],
    private readonly loop: EventLoop,
    kv: { kvEvents?: KvEventsView; tokenizer?: PromptTokenizer } = {},
    /** The gateway queue and dispatch gate (router/flowcontrol), on by default as in `kvgate serve`; false = `--no-flow-control`. */
    flowControl = true,
  ) {
    const router = createRouter({ config, random, kvEvents: kv.kvEvents, tokenizer: kv.tokenizer });
    router.datastore.setEndpoints(endpoints);
    // Flow control's dispatch cycle and queue TTLs run on the virtual clock; a queued request it
    // dispatches resolves a promise, whose continuation must run at that virtual instant.
    const timers = {
      setTimer: (delayMs: number, fn: () => void) => {
        const t = loop.setTimer(() => {
          fn();
          loop.settleAfterThisEvent();
        }, delayMs);
        return { cancel: () => loop.clearTimer(t) };
      },
    };
    this.director = new Director({ router, now: () => loop.now(), accessLog: false, flowControl: { enabled: flowControl, timers } });
  }

  /**
   * What a replica's `/v1/models` lists, as the gateway's probes learn it: `model` with vLLM's
   * `max_model_len`, so the lifecycle keeps requests off replicas whose window they do not fit
   * (router/requestcontrol/context-fit.ts) as it does in front of real replicas.
   */
  setServedModel(endpointId: string, model: string, maxModelLen: number): void {
    const raw = { id: model, object: 'model', owned_by: 'vllm', root: model, parent: null, max_model_len: maxModelLen };
    this.director.router.datastore.setModels(endpointId, [{ id: model, root: model, parent: null, maxModelLen, raw }]);
  }

  updateMetrics(endpointId: string, metrics: EndpointMetrics): void {
    this.director.router.datastore.updateMetrics(endpointId, metrics);
    // New metrics run the gateway queue's dispatch cycle: queued requests may go now.
    if (this.scheduling > 0) this.loop.settleAfterThisEvent();
  }

  /** A request body reached the gateway on `path` (e.g. /v1/completions). */
  admit(path: string, body: Buffer, cb: AdmitCallbacks): void {
    const h = this.director.begin({ ingress: 'gateway', path, headers: HEADERS, body });
    this.loop.settleAfterThisEvent();
    this.scheduling++;
    h.schedule().then(
      () => {
        this.scheduling--;
        const ep = h.nextEndpoint();
        if (ep) cb.dispatch(ep, h);
        else {
          const e = h.exhaustedError();
          h.finish({ status: e.status, errorCode: e.code });
          cb.reject(e.status, e.message);
        }
      },
      (err: unknown) => {
        this.scheduling--;
        const e = toOpenAIError(err); // the handle has finished itself
        cb.reject(e.status, e.body.error.message);
      },
    );
  }

  /** The replica's first streamed byte reached the gateway. */
  firstByte(h: GatewayRequest): void {
    if (h.upstreamStatus(200) !== 'commit') return;
    h.responseStarted(200, 'text/event-stream');
    h.responseChunk(FIRST_EVENT);
  }

  /** The stream ended with the usage event (vLLM's stream_options.include_usage) and [DONE]. */
  complete(h: GatewayRequest, usage: Required<RequestUsage>): void {
    const event = { choices: [], usage: { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.promptTokens + usage.completionTokens, prompt_tokens_details: { cached_tokens: usage.cachedTokens } } };
    h.responseChunk(Buffer.from(`data: ${JSON.stringify(event)}\n\ndata: [DONE]\n\n`));
    h.responseEnd();
    h.finish({ status: 200 });
    this.loop.settleAfterThisEvent();
  }

  /**
   * The replica answered an error status (a 400 for a prompt over max_model_len) without
   * streaming. Returns the endpoint to try next when the lifecycle moves on (a 400 from a window
   * the request may have outgrown, with a larger one untried: the caller sends it there), else
   * answers the client with it and returns undefined.
   */
  failed(h: GatewayRequest, status: number, message: string): EndpointInfo | undefined {
    if (h.upstreamStatus(status) === 'retry') {
      const next = h.nextEndpoint();
      if (next) return next;
    }
    h.responseStarted(status, 'application/json');
    h.responseChunk(Buffer.from(JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } })));
    h.responseEnd();
    h.finish({ status });
    this.loop.settleAfterThisEvent();
    return undefined;
  }
}
