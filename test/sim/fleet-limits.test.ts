// startSimFleet holds its replica count to MAX_UP_REPLICAS (engine/limits.ts) for every caller,
// with the stable invalid_config code, not only behind `kvgate up --replicas`'s flag parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startSimFleet } from '../../src/sim/fleet.js';
import { KvgateError, ErrorCode } from '../../src/shared/errors.js';
import { MAX_UP_REPLICAS } from '../../src/engine/limits.js';
import { freePort } from '../helpers/ports.js';

/** True when nothing accepts TCP connections on 127.0.0.1:port. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => (sock.destroy(), resolve(false)));
    sock.once('error', () => resolve(true));
  });
}

test(`startSimFleet refuses a replica count outside 1..${MAX_UP_REPLICAS} with invalid_config naming replicas, before any replica starts`, async () => {
  const basePort = await freePort();
  for (const replicas of [MAX_UP_REPLICAS + 1, 100_000, 0, -1, 1.5, Number.NaN]) {
    await assert.rejects(startSimFleet({ replicas, basePort, profile: 'instant' }), (err: unknown) => {
      assert.ok(err instanceof KvgateError, String(err));
      assert.equal(err.code, ErrorCode.InvalidConfig);
      assert.equal(err.status, 400);
      assert.equal(err.param, 'replicas');
      assert.equal(err.message, `replicas must be an integer from 1 to ${MAX_UP_REPLICAS}, the largest fleet kvgate up starts in one process (got ${replicas})`);
      return true;
    });
    assert.ok(await refused(basePort), `no replica listens on ${basePort} after replicas: ${replicas}`);
  }
});
