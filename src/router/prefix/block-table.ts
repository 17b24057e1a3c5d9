/**
 * A hash table from block key (a 53-bit integer held in a double) to an int32 value, in typed
 * arrays with linear probing.
 *
 * Why not a Map: a Map<number, …> boxes every non-small-integer key into a heap number on each
 * lookup, and the prefix index looks up ~256 keys per request across millions of entries; that
 * allocation and the Map's pointer-chasing were half of the scheduling decision's time. Keys are
 * already hashes, so their low 32 bits (ToInt32 of the integer) index the table directly. Deletion shifts later entries of
 * the probe run back (no tombstones), so the table never degrades under churn.
 */
export class BlockTable {
  private keys: Float64Array;
  private vals: Int32Array;
  private mask: number;
  private used = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.keys = new Float64Array(cap);
    this.vals = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.used;
  }

  /** The value stored for `key`, or −1. */
  get(key: number): number {
    const { keys, vals, mask } = this;
    for (let i = key & mask; ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v < 0) return -1;
      if (keys[i] === key) return v;
    }
  }

  /** Stores `value` (≥ 0) for `key`, replacing any previous value. */
  set(key: number, value: number): void {
    const { keys, vals, mask } = this;
    let i = key & mask;
    for (; vals[i] >= 0; i = (i + 1) & mask) {
      if (keys[i] === key) {
        vals[i] = value;
        return;
      }
    }
    keys[i] = key;
    vals[i] = value;
    // Grow at half full: linear probing's runs stay short below that.
    if (++this.used * 2 > mask + 1) this.rehash((mask + 1) * 2);
  }

  delete(key: number): void {
    const { keys, vals, mask } = this;
    let i = key & mask;
    for (; ; i = (i + 1) & mask) {
      if (vals[i] < 0) return;
      if (keys[i] === key) break;
    }
    // Backward-shift: move each later entry of the run into the hole if its home slot allows.
    let hole = i;
    for (let j = (i + 1) & mask; vals[j] >= 0; j = (j + 1) & mask) {
      const home = keys[j] & mask;
      // j may fill the hole unless its home lies cyclically in (hole, j].
      const movable = hole <= j ? home <= hole || home > j : home <= hole && home > j;
      if (movable) {
        keys[hole] = keys[j];
        vals[hole] = vals[j];
        hole = j;
      }
    }
    vals[hole] = -1;
    this.used--;
  }

  private rehash(capacity: number): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    this.keys = new Float64Array(capacity);
    this.vals = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
    this.used = 0;
    for (let i = 0; i < oldVals.length; i++) if (oldVals[i] >= 0) this.set(oldKeys[i], oldVals[i]);
  }
}
