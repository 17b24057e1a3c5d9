import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KvgateError, ErrorCode } from '../shared/errors.js';

const PRICES_FILE = fileURLToPath(new URL('../../data/prices.json', import.meta.url));

const PriceFile = z.object({
  currency: z.string(),
  updated: z.string(),
  note: z.string().optional(),
  items: z.array(
    z.object({ id: z.string(), unit: z.string(), pricing: z.record(z.string(), z.number().nonnegative()), region: z.string(), source: z.string(), date: z.string() }),
  ),
  accelerators: z.record(z.string(), z.object({ item: z.string(), perNode: z.number().int().positive(), node: z.string() })),
  scenarios: z.record(z.string(), z.object({ description: z.string(), hourly: z.number().positive(), throughputRps: z.number().positive().optional(), source: z.string() })),
});
export type PriceBook = z.infer<typeof PriceFile>;

/** The dated price book shipped in data/prices.json (or another file of the same shape). */
export function loadPrices(path = PRICES_FILE): PriceBook {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `${path}: cannot read price file: ${(err as Error).message}`);
  }
  const p = PriceFile.safeParse(raw);
  if (!p.success) throw new KvgateError(ErrorCode.InvalidConfig, `${path}: ${z.prettifyError(p.error)}`);
  return p.data;
}

/** Hourly price of `nodes` accelerator nodes at a pricing tier, plus the cluster fee when asked. */
export function hourlyFor(book: PriceBook, accelerator: string, nodes: number, tier: string, clusterFee: boolean): { hourly: number; detail: string } {
  const acc = book.accelerators[accelerator];
  if (!acc) throw new KvgateError(ErrorCode.InvalidConfig, `unknown --accelerator "${accelerator}" (known: ${Object.keys(book.accelerators).join(', ')})`, { param: 'accelerator' });
  const item = book.items.find((i) => i.id === acc.item)!;
  const unit = item.pricing[tier];
  if (unit === undefined) throw new KvgateError(ErrorCode.InvalidConfig, `no "${tier}" price for ${accelerator} (known: ${Object.keys(item.pricing).join(', ')})`, { param: 'pricing' });
  let hourly = unit * acc.perNode * nodes;
  let detail = `${nodes} × ${acc.node} × ${acc.perNode} × $${unit}/${item.unit} (${tier}, ${item.region}, ${item.date})`;
  if (clusterFee) {
    const fee = book.items.find((i) => i.id === 'gke-cluster')!.pricing['on-demand'];
    hourly += fee;
    detail += ` + $${fee}/h GKE fee`;
  }
  return { hourly, detail };
}
