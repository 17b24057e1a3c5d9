import type { ChildProcess } from 'node:child_process';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { post, waitFor, MODEL } from '../gateway/helpers.js';

/** `kvgate sim` (instant profile) in its own process. */
export async function simProcess(args: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnKvgate(['sim', '--port', '0', '--profile', 'instant', ...args]);
  const line = await waitForOutput(child, /listening on (http:\/\/[\d.:]+)/, 60_000);
  return { child, url: /http:\/\/[\d.:]+/.exec(line)![0] };
}

export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  return exited;
}

/** Serves a few requests through `url` so the process's baseline memory is measured warm. */
export async function warm(url: string): Promise<void> {
  await waitFor(async () => (await post(`${url}/v1/completions`, { model: MODEL, prompt: 'warm', max_tokens: 2 })).status === 200, 30_000);
  for (let i = 0; i < 50; i++) await post(`${url}/v1/completions`, { model: MODEL, prompt: `warm ${i}`, max_tokens: 2 });
}
