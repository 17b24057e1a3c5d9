// The gateway queue in virtual time: ordering by band, fairness between flows, TTL, bounds,
// eviction, cancellation and shedding, with no real timer anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowController, type DispatchResult, type DropReason, type QueueOutcome, type TimerScheduler } from '../../src/router/flowcontrol/index.js';

/** Timers in virtual time: `advance(ms)` fires what falls due, in order. */
class VirtualTimers implements TimerScheduler {
  now = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  setTimer(delayMs: number, fn: () => void) {
    const t = { at: this.now + delayMs, fn, live: true };
    this.timers.push(t);
    return { cancel: () => void (t.live = false) };
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.now = due.at;
      due.fn();
    }
    this.now = end;
    this.timers = this.timers.filter((t) => t.live);
  }
  get pending(): number {
    return this.timers.filter((t) => t.live).length;
  }
}

interface Req {
  name: string;
  flowId: string;
  priority: number;
  bytes: number;
  poolKey: string;
  dropped?: DropReason;
  tryDispatch(): DispatchResult;
  onDropped(r: DropReason): void;
}

/** A fleet with `slots` free places per pool key; dispatch order is recorded. */
function world(opts: { maxRequests?: number; maxBytes?: number; ttlMs?: number; tickMs?: number } = {}) {
  const timers = new VirtualTimers();
  const slots = new Map<string, number>();
  const order: string[] = [];
  const left: { priority: number; outcome: QueueOutcome; waitedMs: number }[] = [];
  const fc = new FlowController({
    now: () => timers.now,
    timers,
    maxRequests: opts.maxRequests ?? 100,
    maxBytes: opts.maxBytes ?? 1e9,
    ttlMs: opts.ttlMs ?? 60_000,
    tickMs: opts.tickMs,
    observer: { requestLeft: (priority, outcome, waitedMs) => void left.push({ priority, outcome, waitedMs }) },
  });
  const req = (name: string, o: { flow?: string; priority?: number; bytes?: number; key?: string } = {}): Req => {
    const r: Req = {
      name,
      flowId: o.flow ?? 'f',
      priority: o.priority ?? 0,
      bytes: o.bytes ?? 100,
      poolKey: o.key ?? 'm',
      tryDispatch() {
        const free = slots.get(r.poolKey) ?? 0;
        if (free <= 0) return 'blocked';
        slots.set(r.poolKey, free - 1);
        order.push(name);
        return 'dispatched';
      },
      onDropped(reason) {
        assert.equal(r.dropped, undefined, `${name} dropped twice`);
        r.dropped = reason;
      },
    };
    return r;
  };
  const free = (n: number, key = 'm') => {
    slots.set(key, (slots.get(key) ?? 0) + n);
    fc.pump();
  };
  /** Capacity appears without anyone calling pump(). */
  const appear = (n: number, key = 'm') => void slots.set(key, (slots.get(key) ?? 0) + n);
  return { fc, timers, req, free, appear, order, left };
}

test('a request goes straight through when nothing waits and the pool has room', () => {
  const w = world();
  w.free(1);
  const t = w.fc.submit(w.req('a'));
  assert.equal(t.queued, false);
  assert.deepEqual(w.order, ['a']);
  assert.deepEqual(w.left, [{ priority: 0, outcome: 'Dispatched', waitedMs: 0 }]);
  assert.equal(w.timers.pending, 0, 'no timer for a request that never waited');
});

test('blocked requests wait; freed capacity goes to the highest band first, FCFS within a flow', () => {
  const w = world();
  w.fc.submit(w.req('low1', { priority: 0 }));
  w.fc.submit(w.req('high1', { priority: 10 }));
  w.fc.submit(w.req('low2', { priority: 0 }));
  w.fc.submit(w.req('high2', { priority: 10 }));
  assert.equal(w.fc.queuedRequests, 4);
  assert.deepEqual(
    w.fc.stats().map((b) => [b.priority, b.requests, b.bytes]),
    [
      [10, 2, 200],
      [0, 2, 200],
    ],
  );
  w.timers.advance(250);
  assert.equal(w.fc.stats()[0].oldestAgeMs, 250);
  w.free(3);
  assert.deepEqual(w.order, ['high1', 'high2', 'low1']);
  w.free(1);
  assert.deepEqual(w.order, ['high1', 'high2', 'low1', 'low2']);
  assert.equal(w.fc.queuedRequests, 0);
  assert.deepEqual(w.fc.stats(), [], 'empty bands are removed');
  assert.ok(w.left.every((l) => l.outcome === 'Dispatched' && l.waitedMs === 250));
  assert.equal(w.timers.pending, 0, 'TTL timers are cancelled on dispatch');
});

test('flows of one band take turns: a client with many waiting requests does not starve one with a few', () => {
  const w = world();
  for (let i = 1; i <= 4; i++) w.fc.submit(w.req(`a${i}`, { flow: 'A' }));
  w.fc.submit(w.req('b1', { flow: 'B' }));
  w.fc.submit(w.req('b2', { flow: 'B' }));
  w.fc.submit(w.req('c1', { flow: 'C' }));
  w.free(7);
  assert.deepEqual(w.order, ['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'a4']);
});

test('a request that waited the queue timeout is dropped rejected-ttl-expired; the others keep waiting', () => {
  const w = world({ ttlMs: 1000 });
  const a = w.req('a');
  w.fc.submit(a);
  w.timers.advance(600);
  const b = w.req('b');
  w.fc.submit(b);
  w.timers.advance(400);
  assert.equal(a.dropped, 'rejected-ttl-expired');
  assert.equal(b.dropped, undefined);
  assert.equal(w.fc.queuedRequests, 1);
  assert.deepEqual(w.left.at(-1), { priority: 0, outcome: 'EvictedTTL', waitedMs: 1000 });
  w.free(1);
  assert.deepEqual(w.order, ['b']);
});

test('a full queue refuses a request of equal or lower priority, and a higher one evicts the newest of the lowest band', () => {
  const w = world({ maxRequests: 3 });
  const lows = [w.req('l1', { flow: 'A' }), w.req('l2', { flow: 'A' }), w.req('l3', { flow: 'B' })];
  for (const r of lows) w.fc.submit(r);
  const refused = w.req('l4');
  assert.equal(w.fc.submit(refused).queued, false);
  assert.equal(refused.dropped, 'rejected-saturated');
  assert.equal(w.left.at(-1)!.outcome, 'RejectedCapacity');
  const high = w.req('h', { priority: 5 });
  assert.equal(w.fc.submit(high).queued, true);
  assert.equal(lows[1].dropped, 'evicted-queue-pressure', 'the newest request of the largest flow of the lowest band');
  assert.equal(w.fc.queuedRequests, 3);
  w.free(3);
  assert.deepEqual(w.order, ['h', 'l1', 'l3']);
});

test('the byte bound holds like the request bound; a request larger than it is refused outright', () => {
  const w = world({ maxBytes: 1000 });
  const big = w.req('big', { bytes: 1001 });
  w.fc.submit(big);
  assert.equal(big.dropped, 'rejected-saturated');
  w.fc.submit(w.req('a', { bytes: 600 }));
  const b = w.req('b', { bytes: 600 });
  w.fc.submit(b);
  assert.equal(b.dropped, 'rejected-saturated');
  assert.equal(w.fc.queuedBytes, 600);
});

test('a cancelled request leaves the queue at once (client gone)', () => {
  const w = world();
  const a = w.req('a');
  const t = w.fc.submit(a);
  w.fc.submit(w.req('b'));
  t.cancel();
  assert.equal(a.dropped, 'rejected-context-cancelled');
  assert.equal(t.queued, false);
  assert.equal(w.fc.queuedRequests, 1);
  t.cancel(); // idempotent
  w.free(2);
  assert.deepEqual(w.order, ['b']);
  assert.equal(w.left.filter((l) => l.outcome === 'EvictedContextCancelled').length, 1);
});

test('sheddable requests never wait: they go at once or are dropped rejected-saturated', () => {
  const w = world();
  const blocked = w.req('s1', { priority: -1 });
  w.fc.submit(blocked);
  assert.equal(blocked.dropped, 'rejected-saturated');
  w.free(1);
  w.fc.submit(w.req('s2', { priority: -1 }));
  assert.deepEqual(w.order, ['s2']);
  w.fc.submit(w.req('c1'));
  const behind = w.req('s3', { priority: -1 });
  w.free(0);
  w.fc.submit(behind);
  assert.equal(behind.dropped, 'rejected-saturated', 'with a critical request waiting, a sheddable one does not go');
});

test('a blocked endpoint set does not hold requests for another one', () => {
  const w = world();
  w.fc.submit(w.req('a1', { key: 'A', priority: 5 }));
  w.fc.submit(w.req('b1', { key: 'B' }));
  w.free(1, 'B');
  assert.deepEqual(w.order, ['b1'], 'B dispatched although a higher band waits for A');
  w.fc.submit(w.req('a2', { key: 'A' }));
  w.free(1, 'A');
  assert.deepEqual(w.order, ['b1', 'a1']);
});

test('the dispatch cycle runs on its tick while requests wait, and stops ticking when the queue is empty', () => {
  const w = world({ tickMs: 20, ttlMs: 0 });
  w.fc.submit(w.req('a'));
  w.timers.advance(100);
  assert.equal(w.order.length, 0);
  assert.equal(w.timers.pending, 1, 'one tick armed while a request waits');
  w.appear(1);
  w.timers.advance(20);
  assert.deepEqual(w.order, ['a'], 'the tick found the capacity');
  assert.equal(w.timers.pending, 0, 'no tick once nothing waits');
});

test('a dispatch that finishes another request re-enters pump safely', () => {
  const timers = new VirtualTimers();
  let free = 0;
  const order: string[] = [];
  const fc: FlowController = new FlowController({ now: () => timers.now, timers, maxRequests: 10, maxBytes: 1e9, ttlMs: 0 });
  const mk = (name: string, finishesAnother: boolean) => ({
    flowId: name,
    priority: 0,
    bytes: 1,
    poolKey: 'm',
    tryDispatch(): DispatchResult {
      if (free <= 0) return 'blocked';
      free--;
      order.push(name);
      if (finishesAnother) {
        free++; // a request completed while this one was dispatched
        fc.pump();
      }
      return 'dispatched';
    },
    onDropped() {
      throw new Error('not dropped');
    },
  });
  fc.submit(mk('a', true));
  fc.submit(mk('b', false));
  fc.submit(mk('c', false));
  free = 1;
  fc.pump();
  assert.deepEqual(order, ['a', 'b']);
  assert.equal(fc.queuedRequests, 1);
});

test('close() drops every waiting request rejected-shutting-down and refuses new ones', () => {
  const w = world();
  const a = w.req('a');
  const b = w.req('b', { priority: 3 });
  w.fc.submit(a);
  w.fc.submit(b);
  w.fc.close();
  assert.equal(a.dropped, 'rejected-shutting-down');
  assert.equal(b.dropped, 'rejected-shutting-down');
  const c = w.req('c');
  w.free(1);
  w.fc.submit(c);
  assert.equal(c.dropped, 'rejected-shutting-down');
  assert.equal(w.timers.pending, 0);
});
