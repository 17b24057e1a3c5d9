import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname, basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { EndpointInfo } from '../../router/api.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import { parseEndpoint } from './static-endpoints.js';
import { formatHostPort } from '../../shared/host-port.js';
import { KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL } from '../kv-events/labels.js';

/**
 * Reads an endpoints file: YAML/JSON `endpoints: [{address, port, labels, kvEventsPort?,
 * kvEventsReplayPort?}]` (llm-d's file-discovery shape; the KV-event ports are kvgate's, see
 * kv-events/kv-event-intake.ts), a YAML/JSON list of strings, or one endpoint per line.
 */
export function readEndpointsFile(path: string): EndpointInfo[] {
  return parseEndpointsText(readText(path), path);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The endpoints in an endpoints file's text (`path` names it in errors); blank text is no endpoints. */
function parseEndpointsText(text: string, path: string): EndpointInfo[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    doc = undefined;
  }
  const where = (i: number) => `${path}: endpoints[${i}]`;
  const fromItem = (item: unknown, i: number): EndpointInfo => {
    if (typeof item === 'string') return withPath(() => parseEndpoint(item), where(i));
    if (item && typeof item === 'object') {
      const o = item as { address?: unknown; port?: unknown; url?: unknown; labels?: unknown; kvEventsPort?: unknown; kvEventsReplayPort?: unknown };
      const labels = labelsOf(o.labels, where(i));
      // The engine's KV-event ports travel as the labels Kubernetes discovery uses for the Pod annotation.
      if (o.kvEventsPort !== undefined) labels[KV_EVENTS_PORT_LABEL] = String(portOf(o.kvEventsPort, `${where(i)}.kvEventsPort`));
      if (o.kvEventsReplayPort !== undefined) labels[KV_EVENTS_REPLAY_PORT_LABEL] = String(portOf(o.kvEventsReplayPort, `${where(i)}.kvEventsReplayPort`));
      if (typeof o.url === 'string') return withPath(() => parseEndpoint(o.url as string, labels), where(i));
      if (typeof o.address === 'string' && (typeof o.port === 'number' || typeof o.port === 'string')) {
        // address and port are separate fields: a bare IPv6 address is unambiguous here.
        return withPath(() => parseEndpoint(formatHostPort(o.address as string, o.port as number | string), labels), where(i));
      }
    }
    throw new KvgateError(ErrorCode.InvalidConfig, `${where(i)}: expected "ip:port", a URL or {address, port, labels}`);
  };
  if (Array.isArray(doc)) return doc.map(fromItem);
  if (doc && typeof doc === 'object' && Array.isArray((doc as { endpoints?: unknown }).endpoints)) {
    return (doc as { endpoints: unknown[] }).endpoints.map(fromItem);
  }
  return trimmed
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map(fromItem);
}

function portOf(v: unknown, where: string): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) throw new KvgateError(ErrorCode.InvalidConfig, `${where}: expected a port number 1-65535`);
  return n;
}

/** Label values as strings (YAML reads `gpu: 1` as a number); nested values are errors. */
function labelsOf(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new KvgateError(ErrorCode.InvalidConfig, `${where}.labels: expected a map of label: value`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null || typeof x === 'object') throw new KvgateError(ErrorCode.InvalidConfig, `${where}.labels.${k}: expected a string, number or boolean`);
    out[k] = String(x);
  }
  return out;
}

function withPath<T>(f: () => T, where: string): T {
  try {
    return f();
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `${where}: ${(err as Error).message}`);
  }
}

/**
 * Watches an endpoints file (editors replace files atomically, so the directory is watched).
 * A bad edit keeps the last good set and reports the error. So does a blank file: a writer that
 * truncates and then writes (a shell's `>`) shows one for a moment, and taking it would send every
 * request away with 503 until the write lands; a list that is empty on purpose is written as
 * `endpoints: []` (or `[]`).
 */
export function watchEndpointsFile(
  path: string,
  onChange: (endpoints: EndpointInfo[]) => void,
  onError: (err: Error) => void,
  debounceMs = 100,
): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    try {
      const text = readText(path);
      if (text.trim() === '') throw new KvgateError(ErrorCode.InvalidConfig, `${path}: the file is empty (mid-write?); to remove every endpoint write "endpoints: []"`);
      onChange(parseEndpointsText(text, path));
    } catch (err) {
      onError(err as Error);
    }
  };
  const w: FSWatcher = watch(dirname(path), (_ev, name) => {
    if (name && name.toString() !== basename(path)) return;
    clearTimeout(timer);
    timer = setTimeout(reload, debounceMs);
  });
  return {
    close() {
      clearTimeout(timer);
      w.close();
    },
  };
}
