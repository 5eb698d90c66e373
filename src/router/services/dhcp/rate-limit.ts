/**
 * Token buckets by key, with a bounded number of keys: each key may pass `rate` times a second,
 * in bursts of `burst`. Pure: the caller passes the time.
 *
 * Each key keeps one number, the time its bucket is full again (the generic cell rate
 * algorithm's theoretical arrival time): a pass moves it one interval on, and a key more than
 * `burst - 1` intervals ahead of now is refused. A key whose time has passed is as good as
 * absent, so it is dropped: the table holds the keys that are limited now, not every key ever
 * seen. Keys are what a guest controls (a MAC it can forge by the million), so the table also
 * has a size cap: when full, the oldest key is forgotten, which only ever gives that key a
 * fresh (full) bucket.
 */

/** Keys looked at from the old end per new key: stale ones go, live ones move to the young end. */
const SWEEP_STEPS = 2

export class TokenBuckets<K> {
  private readonly fullAt = new Map<K, number>()
  private readonly intervalMs: number
  private readonly toleranceMs: number

  constructor(readonly rate: number, readonly burst: number, readonly maxKeys: number) {
    this.intervalMs = 1000 / rate
    this.toleranceMs = (burst - 1) * this.intervalMs
  }

  /** Whether `key` may pass now; takes a token when it may. */
  take(key: K, now: number): boolean {
    const full = this.fullAt.get(key)
    const from = full === undefined || full < now ? now : full
    if (from - now > this.toleranceMs) return false
    if (full === undefined) this.makeRoom(now)
    this.fullAt.set(key, from + this.intervalMs)
    return true
  }

  /** Drops every key whose bucket is full again by `now`. */
  prune(now: number): void {
    for (const [key, full] of this.fullAt) if (full <= now) this.fullAt.delete(key)
  }

  get size(): number {
    return this.fullAt.size
  }

  /** A few steps of an incremental sweep, then the oldest key goes if the table is still full. */
  private makeRoom(now: number): void {
    for (let i = 0; i < SWEEP_STEPS && this.fullAt.size > 0; i++) {
      const [key, full] = this.fullAt.entries().next().value as [K, number]
      this.fullAt.delete(key)
      if (full > now) this.fullAt.set(key, full)
    }
    if (this.fullAt.size >= this.maxKeys) {
      const oldest = this.fullAt.keys().next()
      if (oldest.done !== true) this.fullAt.delete(oldest.value)
    }
  }
}
