/**
 * Per-client token buckets: each client may send `rate` queries per second with bursts of
 * twice that. Pure: the caller passes the time. Idle clients are forgotten by sweep().
 */
export class RateLimiter {
  private readonly buckets = new Map<number | string, { tokens: number; at: number }>()

  constructor(private readonly rate: number) {}

  allow(client: number | string, now: number, rate = this.rate): boolean {
    const burst = rate * 2
    const b = this.buckets.get(client)
    if (b === undefined) {
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
}
