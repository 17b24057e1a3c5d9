import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { encode } from '@msgpack/msgpack';
import { Registry } from 'prom-client';
import { KvEventIntake } from '../../src/datalayer/kv-events/kv-event-intake.js';
import { KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL, RANK_LABEL } from '../../src/datalayer/kv-events/labels.js';
import { readEndpointsFile } from '../../src/datalayer/sources/endpoints-file.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { KvgateError } from '../../src/shared/errors.js';
import { freePort, freePortRange } from '../helpers/ports.js';

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A raw vLLM-style publisher bound on a port; `send` numbers batches 0, 1, 2… */
async function publisher(port?: number, connectTo?: string, firstSeq = 0n) {
  const pub = new zmq.Publisher();
  if (connectTo) pub.connect(connectTo);
  else await pub.bind(`tcp://127.0.0.1:${port}`);
  let seq = firstSeq;
  let hash = 1;
  return {
    pub,
    /** One BlockStored batch of `blocks` 4-token blocks under `topic`. */
    send: async (topic = '', blocks = 1) => {
      const s = Buffer.alloc(8);
      s.writeBigUInt64BE(seq++);
      const hashes = Array.from({ length: blocks }, () => hash++);
      await pub.send([topic, s, encode([Date.now() / 1000, [['BlockStored', hashes, null, Array.from({ length: blocks * 4 }, (_, i) => i), 4, null, 'GPU', null]], 0])]);
    },
  };
}

const ep = (port: number, labels: Record<string, string> = {}) => parseEndpoint(`127.0.0.1:${port}`, labels);

test('the intake follows the endpoint set: metadata ports, the pool-wide port, none; changed ports resubscribe; removals drop the blocks', async () => {
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
  const pubs = [await publisher(p1), await publisher(p2), await publisher(p3)];
  const intake = new KvEventIntake({ port: p2 });
  try {
    const a = ep(9001, { [KV_EVENTS_PORT_LABEL]: String(p1) });
    const b = ep(9002); // the pool-wide --kv-events-port
    const c = ep(9003, { [KV_EVENTS_PORT_LABEL]: 'not-a-port' }); // invalid metadata: the pool-wide port
    intake.sync([a, b, c]);
    await until(() => {
      void pubs[0].send('', 1);
      void pubs[1].send('', 1);
      return intake.index.blocks(a.id) > 0 && intake.index.blocks(b.id) > 0 && intake.index.blocks(c.id) > 0;
    }, 'all three subscribed');
    assert.deepEqual(intake.streams().map((s) => s.endpointId).sort(), [a.id, b.id, c.id]);
    // a's engine moves to another port: resubscribed, the old state forgotten.
    const a2 = ep(9001, { [KV_EVENTS_PORT_LABEL]: String(p3) });
    intake.sync([a2, b]);
    assert.equal(intake.index.blocks(a.id), 0, 'resubscribing drops what the old stream said');
    assert.equal(intake.view.status(c.id), undefined, 'c left the pool');
    assert.equal(intake.index.blocks(c.id), 0);
    await until(() => {
      void pubs[2].send('', 2);
      return intake.index.blocks(a.id) >= 2;
    }, 'the new port');
    intake.sync([]);
    assert.equal(intake.streams().length, 0);
    assert.equal(intake.index.memoryStats().blocks, 0);
  } finally {
    await intake.close();
    for (const p of pubs) p.pub.close();
  }
});

test("a data-parallel rank's events are on the base port + rank (vLLM's offset), its replay port likewise", async () => {
  // Rank 1 uses base+1 and replayBase+1: both pairs checked free, below the ephemeral range other
  // tests' sockets take ports from, and apart (two single free ports could be neighbours).
  const base = await freePortRange(4);
  const replayBase = base + 2;
  let rank1: Awaited<ReturnType<typeof publisher>> | undefined;
  const replay = new zmq.Router();
  try {
    rank1 = await publisher(base + 1, undefined, 5n); // an engine that has been running a while
    await replay.bind(`tcp://127.0.0.1:${replayBase + 1}`);
  } catch {
    rank1?.pub.close();
    replay.close();
    return assert.fail('a neighbouring port was taken by another process; rerun');
  }
  const asked: Buffer[][] = [];
  void (async () => {
    for await (const f of replay) asked.push(f); // never answers: the replay times out
  })().catch(() => undefined);
  const intake = new KvEventIntake({ port: base, subscriber: { replayTimeoutMs: 200 } });
  try {
    const e = ep(9100, { [RANK_LABEL]: '1', [KV_EVENTS_REPLAY_PORT_LABEL]: String(replayBase) });
    intake.sync([e]);
    // The stream is joined late (its first batch is not 0): the subscriber asks the replay socket.
    await until(() => {
      void rank1!.send('', 1);
      return intake.index.blocks(e.id) > 0;
    }, 'rank 1 on base+1');
    await until(() => asked.length > 0, 'a replay request on the replay base + 1');
  } finally {
    await intake.close();
    rank1.pub.close();
    replay.close();
  }
});

test("bind layout: topics name endpoints by id, or by a pod IP (one endpoint, or the batch's rank among several); others are dropped and counted", async () => {
  const intake = new KvEventIntake({ bind: 'tcp://127.0.0.1:*' });
  await intake.start();
  const addr = intake.boundAddress!;
  const reg = new Registry();
  intake.registerMetrics(reg);
  const pubs = [await publisher(undefined, addr), await publisher(undefined, addr), await publisher(undefined, addr)];
  try {
    const byId = parseEndpoint('127.0.0.1:9201');
    const r0 = parseEndpoint('10.9.9.9:8000', { [RANK_LABEL]: '0' });
    const r1 = parseEndpoint('10.9.9.9:8001', { [RANK_LABEL]: '1' });
    intake.sync([byId, r0, r1]);
    await until(() => {
      void pubs[0].send('kv@127.0.0.1:9201@m', 1);
      void pubs[1].send('kv@10.9.9.9@m', 1); // rank 0 (the batch says 0)
      void pubs[2].send('kv@10.1.1.1@m', 1); // nobody
      return intake.index.blocks(byId.id) > 0 && intake.index.blocks(r0.id) > 0 && intake.stats().dropped.unknownTopic > 0;
    }, 'streams resolved');
    assert.equal(intake.index.blocks(r1.id), 0);
    const text = await reg.metrics();
    assert.match(text, /^kvgate_kv_events_dropped_total\{reason="unknown_topic"\} [1-9]\d*$/m);
    // Production reasons only: the tests' drop hook (SubscriberOptions.dropLive) is no label here.
    assert.deepEqual([...text.matchAll(/^kvgate_kv_events_dropped_total\{reason="([^"]+)"\}/gm)].map((m) => m[1]), ['held_overflow', 'unknown_topic']);
    assert.match(text, /^kvgate_kv_index_blocks\{endpoint="127\.0\.0\.1:9201"\} [1-9]\d*$/m);
  } finally {
    await intake.close();
    for (const p of pubs) p.pub.close();
  }
});

test('a bind address that cannot be bound is a startup error naming --kv-events-bind', async () => {
  const intake = new KvEventIntake({ bind: 'tcp://256.1.1.1:5557' });
  await assert.rejects(intake.start(), (e: unknown) => e instanceof KvgateError && /--kv-events-bind tcp:\/\/256\.1\.1\.1:5557/.test(e.message));
  await intake.close();
});

test('an endpoints file gives kvEventsPort / kvEventsReplayPort per endpoint; a bad one names the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-ep-'));
  const f = join(dir, 'endpoints.yaml');
  writeFileSync(f, 'endpoints:\n- {address: 10.0.0.1, port: 8000, kvEventsPort: 5557, kvEventsReplayPort: "5558"}\n- {address: 10.0.0.2, port: 8000}\n');
  const [a, b] = readEndpointsFile(f);
  assert.equal(a.labels[KV_EVENTS_PORT_LABEL], '5557');
  assert.equal(a.labels[KV_EVENTS_REPLAY_PORT_LABEL], '5558');
  assert.deepEqual(b.labels, {});
  writeFileSync(f, 'endpoints:\n- {address: 10.0.0.1, port: 8000, kvEventsPort: 70000}\n');
  assert.throws(() => readEndpointsFile(f), /endpoints\[0\]\.kvEventsPort: expected a port number 1-65535/);
});
