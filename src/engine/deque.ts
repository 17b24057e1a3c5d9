/** Array-backed double-ended queue with O(1) amortised push/shift/unshift. */
export class Deque<T> {
  private items: (T | undefined)[] = new Array(16);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  peek(): T | undefined {
    return this.count ? this.items[this.head] : undefined;
  }

  push(x: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = x;
    this.count++;
  }

  unshift(x: T): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1 + this.items.length) % this.items.length;
    this.items[this.head] = x;
    this.count++;
  }

  shift(): T | undefined {
    if (!this.count) return undefined;
    const x = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return x;
  }

  /** Removes the first element matching pred (O(n)); used only for aborts. */
  remove(pred: (x: T) => boolean): T | undefined {
    for (let i = 0; i < this.count; i++) {
      const idx = (this.head + i) % this.items.length;
      const x = this.items[idx] as T;
      if (!pred(x)) continue;
      const rest: T[] = [];
      for (let j = i + 1; j < this.count; j++) rest.push(this.items[(this.head + j) % this.items.length] as T);
      this.count = i;
      for (const r of rest) this.push(r);
      return x;
    }
    return undefined;
  }

  private grow(): void {
    const n: (T | undefined)[] = new Array(this.items.length * 2);
    for (let i = 0; i < this.count; i++) n[i] = this.items[(this.head + i) % this.items.length];
    this.items = n;
    this.head = 0;
  }
}
