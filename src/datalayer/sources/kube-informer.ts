import { Watch } from '@kubernetes/client-node';
import type { Logger } from '../../shared/logger.js';
import { describeKubeError, type LoadedKubeConfig, type RbacNeed } from './kube-config.js';
import { kubeConfigOf } from './kube-client.js';
import { LIST_TIMEOUT_MS, withinDeadline } from './kube-deadline.js';
import { RetryLog } from './retry-log.js';

/** The fields of any Kubernetes object the informer relies on. */
export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface KubeList<T> {
  metadata?: { resourceVersion?: string };
  items?: T[];
}

export interface InformerOptions<T extends KubeObject> {
  /** What is watched, for errors and logs: "pods app=qwen in ns". */
  what: string;
  config: LoadedKubeConfig;
  /** A full list (client-node typed API); its resourceVersion starts the watch. */
  list(): Promise<KubeList<T>>;
  /** Collection path for the watch, e.g. /api/v1/namespaces/ns/pods (read again before each watch). */
  watchPath(): string;
  /** labelSelector / fieldSelector of the watch; the list must use the same. */
  selectors?: { labelSelector?: string; fieldSelector?: string };
  /** Called after every list and every event with the current objects by name. */
  onChange(objects: ReadonlyMap<string, T>): void;
  /** Called when list or watch fails (after lastError is set). */
  onError?(message: string, err: unknown): void;
  /** The resource read (read again at each failure): a 403's message then names the RBAC rule it lacks. */
  rbac?(): Omit<RbacNeed, 'verb'>;
  logger: Logger;
  /** First retry delay after an error; doubles (with ±20 % jitter) up to maxBackoffMs. Default 500 ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Full relist at least this often, even while the watch is healthy (client-go's resync). Default 10 min. */
  resyncMs?: number;
  /** Server-side watch timeout (timeoutSeconds, jittered ±25 %), then the watch resumes. Default 300 s. */
  watchTimeoutS?: number;
  /** No bytes for this long (bookmarks and events both count) means the connection is dead. Default watchTimeout + 60 s. */
  idleTimeoutMs?: number;
  /** Bound on one list request; its error names the API server. Default 30 s. */
  listTimeoutMs?: number;
  /** A failure that keeps repeating is warned again at most this often (RetryLog). Default 10 min. */
  repeatWarnMs?: number;
}

class WatchGone extends Error {}

/**
 * A list-then-watch cache of one collection, as client-go's reflector keeps one:
 * - lists, then watches from the list's resourceVersion with bookmarks on, and resumes a
 *   dropped or timed-out watch from the last resourceVersion it saw (an event's or a bookmark's);
 * - on 410 Gone (an ERROR event or the HTTP status) relists, replacing the cache wholesale so
 *   objects deleted while disconnected disappear;
 * - relists every `resyncMs`; retries errors with jittered exponential backoff, warning once per
 *   distinct failure (RetryLog) rather than at every retry;
 * - treats a connection silent for `idleTimeoutMs` as dead.
 * Built on client-node's `Watch` (streaming, line framing, authentication) because its own
 * `ListWatch` neither restarts after an error, nor asks for bookmarks, nor says when it synced.
 */
export class Informer<T extends KubeObject> {
  /** True once a list succeeded; stays true through later errors (the cache is then stale, see lastError). */
  synced = false;
  /** The last list/watch failure; cleared by the next successful list or the next watch the server opens. */
  lastError?: string;
  resourceVersion = '';
  readonly objects = new Map<string, T>();
  private stopped = true;
  private abortWatch?: () => void;
  private wake?: () => void;
  private loopDone?: Promise<void>;
  private readonly retryLog: RetryLog;

  constructor(private readonly o: InformerOptions<T>) {
    this.retryLog = new RetryLog(o.logger, o.what, o.repeatWarnMs);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abortWatch?.();
    this.wake?.();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    const base = this.o.backoffMs ?? 500;
    let backoff = base;
    let needList = true;
    let listedAt = 0;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          listedAt = Date.now();
          needList = false;
        }
        const started = Date.now();
        const delivered = await this.watchOnce(listedAt + (this.o.resyncMs ?? 600_000) - started);
        this.lastError = undefined;
        if (Date.now() - listedAt >= (this.o.resyncMs ?? 600_000)) {
          needList = true;
          continue;
        }
        // A watch the server ends at once, repeatedly, must not spin.
        if (!delivered && Date.now() - started < 1000) await this.sleep(backoff);
        else backoff = base;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof WatchGone) {
          this.o.logger.info({ what: this.o.what, resourceVersion: this.resourceVersion }, 'watch: resourceVersion too old (410 Gone); relisting');
          needList = true;
          continue;
        }
        const verb = needList ? 'list' : 'watch';
        const rbac = this.o.rbac?.();
        const message = describeKubeError(err, this.describeOp(needList), this.o.config, rbac && { verb, ...rbac });
        this.lastError = message;
        this.o.onError?.(message, err);
        const delay = Math.round(backoff * (0.8 + Math.random() * 0.4));
        this.retryLog.failed(message, delay);
        await this.sleep(delay);
        backoff = Math.min(this.o.maxBackoffMs ?? 30_000, backoff * 2);
      }
    }
  }

  private describeOp(listing: boolean): string {
    return `${listing ? 'list' : 'watch'} ${this.o.what}`;
  }

  private async relist(): Promise<void> {
    const list = await withinDeadline(this.o.list(), this.o.listTimeoutMs ?? LIST_TIMEOUT_MS, this.o.config.server);
    if (this.stopped) return;
    this.objects.clear();
    for (const item of list.items ?? []) {
      const name = item.metadata?.name;
      if (name) this.objects.set(name, item);
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.synced = true;
    this.lastError = undefined;
    this.retryLog.succeeded();
    this.o.onChange(this.objects);
  }

  /**
   * One watch request, until the server ends it (resolve: whether any event arrived) or it
   * fails (reject; WatchGone for 410). `budgetMs` caps it so resync happens on time.
   */
  private watchOnce(budgetMs: number): Promise<boolean> {
    const timeoutS = this.o.watchTimeoutS ?? 300;
    const jittered = Math.max(1, Math.round(timeoutS * (0.75 + Math.random() * 0.5)));
    const idleMs = this.o.idleTimeoutMs ?? timeoutS * 1000 + 60_000;
    return new Promise<boolean>((resolve, reject) => {
      let delivered = false;
      let gone = false;
      let errorEvent: { code?: number; message?: string } | undefined;
      let settled = false;
      let controller: AbortController | undefined;
      let idle: NodeJS.Timeout | undefined;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        clearTimeout(budget);
        this.abortWatch = undefined;
        controller?.abort();
        if (err) reject(err);
        else if (gone) reject(new WatchGone());
        else if (errorEvent) reject(Object.assign(new Error(errorEvent.message ?? 'watch ERROR event'), { statusCode: errorEvent.code }));
        else resolve(delivered);
      };
      const kick = () => {
        clearTimeout(idle);
        idle = setTimeout(() => finish(new Error(`watch silent for ${idleMs} ms (connection to ${this.o.config.server} lost?)`)), idleMs);
      };
      // Ending the watch for a resync is a normal end, not an error.
      const budget = setTimeout(() => finish(), Math.max(0, budgetMs));
      this.abortWatch = () => finish();
      kick();
      const query: Record<string, string> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(jittered),
        ...this.o.selectors,
      };
      const onEvent = (type: string, obj: T & { code?: number; message?: string }) => {
        kick();
        if (settled) return;
        if (type === 'ERROR') {
          // A Status object: 410 means our resourceVersion was compacted away.
          if (obj.code === 410) gone = true;
          else errorEvent = { code: obj.code, message: obj.message };
          return;
        }
        const rv = obj.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (type === 'BOOKMARK') return;
        const name = obj.metadata?.name;
        if (!name) return;
        delivered = true;
        if (type === 'DELETED') this.objects.delete(name);
        else if (type === 'ADDED' || type === 'MODIFIED') this.objects.set(name, obj);
        else return;
        this.o.onChange(this.objects);
      };
      const onDone = (err: unknown) => {
        const status = (err as { statusCode?: number } | null)?.statusCode;
        if (status === 410) {
          gone = true;
          finish();
        } else finish(err ?? undefined);
      };
      new Watch(kubeConfigOf(this.o.config))
        .watch(this.o.watchPath(), query, onEvent as (type: string, obj: unknown) => void, onDone)
        .then((c) => {
          controller = c;
          if (settled) c.abort();
          // The server answered 200 and streams: the earlier list/watch error is over. (Waiting for
          // this watch to end — up to timeoutSeconds — would report a healed connection as failing.)
          else {
            this.lastError = undefined;
            this.retryLog.succeeded();
          }
        })
        .catch((err: unknown) => finish(err));
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
