import { describe, expect, it } from 'vitest'
import { RateLimiter } from '../../../src/router/services/dns/rate-limit.ts'

describe('per-client rate limit', () => {
  it('allows a burst of twice the rate, then the rate', () => {
    const l = new RateLimiter(10)
    const allowed = Array.from({ length: 30 }, () => l.allow(1, 0)).filter(Boolean).length
    expect(allowed).toBe(20)
    expect(l.allow(1, 100)).toBe(true)
    expect(l.allow(1, 100)).toBe(false)
  })

  it('keeps at most maxClients buckets: many sources cannot grow the table without bound', () => {
    const l = new RateLimiter(10, 1000)
    for (let client = 0; client < 100_000; client++) l.allow(client, 0)
    expect(l.size).toBeLessThanOrEqual(1000)
    // The newest clients are still limited by their own bucket.
    for (let i = 0; i < 19; i++) l.allow(99_999, 0)
    expect(l.allow(99_999, 0)).toBe(false)
  })
})
