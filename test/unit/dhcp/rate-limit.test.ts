import { describe, expect, it } from 'vitest'
import { TokenBuckets } from '../../../src/router/services/dhcp/rate-limit.ts'

describe('TokenBuckets', () => {
  const cases = [
    { name: 'a burst passes, the next is refused', steps: [[0, 3, 3], [0, 1, 0]] },
    { name: 'tokens come back at the rate', steps: [[0, 3, 3], [500, 2, 1], [1000, 1, 1]] },
    { name: 'an idle key refills only up to the burst', steps: [[0, 3, 3], [60_000, 5, 3]] },
  ] as const
  for (const c of cases) {
    it(c.name, () => {
      const b = new TokenBuckets<string>(2, 3, 10)
      for (const [at, tries, passed] of c.steps) {
        let n = 0
        for (let i = 0; i < tries; i++) if (b.take('k', at)) n++
        expect(n, `at ${at}`).toBe(passed)
      }
    })
  }

  it('keeps at most maxKeys keys, forgetting the oldest', () => {
    const b = new TokenBuckets<number>(1, 1, 100)
    expect(b.take(-1, 0)).toBe(true)
    expect(b.take(-1, 0)).toBe(false)
    for (let i = 0; i < 10_000; i++) b.take(i, 0)
    expect(b.size).toBe(100)
    // -1 was forgotten: it starts again with a full bucket.
    expect(b.take(-1, 0)).toBe(true)
  })

  it('prune drops the keys whose bucket is full again, and only those', () => {
    const b = new TokenBuckets<number>(20, 40, 16_384)
    // 4,000 clients one DISCOVER each over 4 s, and one client at its limit.
    for (let i = 0; i < 4000; i++) b.take(i, i)
    for (let i = 0; i < 40; i++) b.take(-1, 4000)
    b.prune(4000)
    // Refilled by then: all but the last ~50 ms of one-shot clients (the bucket refills 1 per 50 ms), and the busy one.
    expect(b.size).toBeLessThan(100)
    expect(b.take(-1, 4000)).toBe(false)
    b.prune(10_000)
    expect(b.size).toBe(0)
  })

  it('a dropped key is limited again from a full bucket, as a key that was kept would be', () => {
    const b = new TokenBuckets<string>(2, 3, 10)
    for (let i = 0; i < 3; i++) expect(b.take('k', 0)).toBe(true)
    expect(b.take('k', 0)).toBe(false)
    b.prune(1500)
    expect(b.size).toBe(0)
    for (let i = 0; i < 3; i++) expect(b.take('k', 1500)).toBe(true)
    expect(b.take('k', 1500)).toBe(false)
  })
})
