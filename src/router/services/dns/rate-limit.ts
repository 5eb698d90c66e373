/**
 * Per-client token buckets: each client may send `rate` queries per second with bursts of
 * twice that. Pure: the caller passes the time. Idle clients are forgotten by sweep(). The
 * table holds at most `maxClients` buckets: past that the oldest bucket is dropped, and its
 * client, should it come back, starts again with a full burst, which costs a burst at most,
 * where an unbounded table would cost memory for every source a guest can forge.
 */
const DEFAULT_MAX_CLIENTS = 65_536

export class RateLimiter {
  private readonly buckets = new Map<number | string, { tokens: number; at: number }>()

  constructor(private readonly rate: number, private readonly maxClients = DEFAULT_MAX_CLIENTS) {}

  allow(client: number | string, now: number, rate = this.rate): boolean {
    const burst = rate * 2
    const b = this.buckets.get(client)
    if (b === undefined) {
      if (this.buckets.size >= this.maxClients) {
        // Map order is insertion order: the first key is the oldest client.
        const oldest = this.buckets.keys().next().value as number | string
        this.buckets.delete(oldest)
      }
      this.buckets.set(client, { tokens: burst - 1, at: now })
      return true
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate)
    b.at = now
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  /** Forgets clients whose bucket has been full for a while. */
  sweep(now: number, idleMs = 60_000): void {
    for (const [client, b] of this.buckets) if (now - b.at > idleMs) this.buckets.delete(client)
  }

  get size(): number {
    return this.buckets.size
  }
}
