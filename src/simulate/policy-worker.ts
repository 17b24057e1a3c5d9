import { parentPort, workerData } from 'node:worker_threads';
import { runPolicyJob, WORKER_PROGRESS_MS, type PolicyJob, type WorkerMessage } from './policy-job.js';

/** Worker-thread entry: runs one policy job (see policy-job.ts), posting progress now and then and its PolicyRun at the end. */
// The first tick is posted at once, later ones at most every WORKER_PROGRESS_MS: a run shorter than
// that still reports its progress once (the parent's --progress-interval throttles the lines; at 0
// every run shows one, which test/simulate/progress.test.ts relies on however fast the machine is).
let last = -Infinity;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const run = await runPolicyJob(workerData as PolicyJob, (simulatedMs) => {
  const now = performance.now();
  if (now - last < WORKER_PROGRESS_MS) return;
  last = now;
  post({ kind: 'progress', simulatedMs });
});
post({ kind: 'done', run });
