import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { parsePromText } from '../helpers/prom-text.js';

/** Resident set size of a process, bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export const MiB = 1024 * 1024;

/** `kvgate <args>` in its own process (so its memory is its own), resolving once it prints its URL. */
export async function startChild(args: string[], ready = /listening on (http:\/\/[\d.:]+)/): Promise<{ child: ChildProcess; url: string; stop(): Promise<void> }> {
  const child = spawnKvgate(args);
  const line = await waitForOutput(child, ready, 60_000);
  const url = ready.exec(line)![1];
  return {
    child,
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The sum of a metric's samples matching `labels` on `url`/metrics. */
export async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { samples } = parsePromText(await (await fetch(`${url}/metrics`)).text());
  return samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);
}

/** A raw TCP connection to an http:// URL. */
export function rawSocket(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends on `s` until it closes the connection. */
export function readUntilClosed(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(text));
  });
}

/** The status code of the first HTTP response in `text` (0 when none). */
export function statusOf(text: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}
