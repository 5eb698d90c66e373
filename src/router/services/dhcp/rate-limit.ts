/**
 * Token buckets by key, with a bounded number of keys: each key may pass `rate` times a second,
 * in bursts of `burst`. Pure: the caller passes the time. Keys are what a guest controls (a MAC
 * it can forge by the million), so the table has a size cap: when full, the least recently
 * seen key is forgotten, which only ever gives that key a fresh (full) bucket. A bucket that has
 * filled up again is as good as no bucket: `prune` drops those, so at rest the table holds only
 * keys that are limited now.
 */
const REORDER_MS = 1000

interface Bucket { tokens: number; at: number; seen: number }

export class TokenBuckets<K> {
  private readonly buckets = new Map<K, Bucket>()

  constructor(readonly rate: number, readonly burst: number, readonly maxKeys: number) {}

  /** Whether `key` may pass now; takes a token when it may. */
  take(key: K, now: number): boolean {
    const b = this.buckets.get(key)
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next()
        if (oldest.done !== true) this.buckets.delete(oldest.value)
      }
      this.buckets.set(key, { tokens: this.burst - 1, at: now, seen: now })
      return true
    }
    // Re-inserted so that Map order is least recently seen first; at most once a second per key,
    // since a delete and set per packet was the limiter's whole cost at 8,000 exchanges a second.
    if (now - b.seen >= REORDER_MS) {
      this.buckets.delete(key)
      this.buckets.set(key, b)
      b.seen = now
    }
    b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.rate)
    b.at = now
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  /** Drops every key whose bucket is full again by `now` (a walk of the table: call it seldom). */
  prune(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (Math.max(0, now - b.at) / 1000) * this.rate >= this.burst) this.buckets.delete(key)
    }
  }

  get size(): number {
    return this.buckets.size
  }
}
