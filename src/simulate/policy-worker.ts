import { parentPort, workerData } from 'node:worker_threads';
import { runPolicyJob, type PolicyJob } from './policy-job.js';

/** Worker-thread entry: runs one policy job (see policy-job.ts) and posts its PolicyRun back. */
const run = await runPolicyJob(workerData as PolicyJob);
parentPort!.postMessage(run);
