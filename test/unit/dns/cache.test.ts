import { describe, expect, it } from 'vitest'
import { ResponseCache } from '../../../src/dns/cache.ts'
import { CacheBudget } from '../../../src/dns/cache-budget.ts'

const entry = (size: number, now = 0, ttlMs = 60_000) => ({ bytes: new Uint8Array(size), ttlOffsets: [], storedAt: now, expiresAt: now + ttlMs, ages: true })

describe('DNS caches of all networks under one byte budget', () => {
  it('all caches together stay within the budget, however many networks there are', () => {
    const budget = new CacheBudget(100_000)
    const caches = Array.from({ length: 256 }, () => new ResponseCache(budget))
    for (let i = 0; i < 20_000; i++) caches[i % caches.length]!.set(`q${i}`, entry(500))
    expect(budget.usedBytes).toBeLessThanOrEqual(100_000)
    expect(budget.usedBytes).toBeGreaterThan(90_000)
    const total = caches.reduce((n, c) => n + c.size, 0)
    expect(total).toBe(budget.entries)
  })

  it('one busy network evicts the least recently used entries of any network, its own included; a recently used one stays', () => {
    const budget = new CacheBudget(20_000)
    const quiet = new ResponseCache(budget)
    const busy = new ResponseCache(budget)
    quiet.set('old', entry(1000))
    quiet.set('used', entry(1000))
    for (let i = 0; i < 10; i++) busy.set(`b${i}`, entry(1000))
    // Asked again more than a second after it was stored: moved to the young end.
    expect(quiet.get('used', 2000)).toBeDefined()
    // About 17 entries fit: 10 more push out the 5 oldest (old, b0..b3), not the one just used.
    for (let i = 10; i < 20; i++) busy.set(`b${i}`, entry(1000, 2000))
    expect(quiet.get('old', 2000)).toBeUndefined()
    expect(quiet.get('used', 2000)).toBeDefined()
    expect(busy.get('b0', 2000)).toBeUndefined()
    expect(busy.get('b19', 2000)).toBeDefined()
    expect(budget.usedBytes).toBeLessThanOrEqual(20_000)
  })

  it('clearing or expiring entries gives their bytes back to the budget', () => {
    const budget = new CacheBudget(1_000_000)
    const a = new ResponseCache(budget)
    const b = new ResponseCache(budget)
    a.set('x', entry(1000))
    a.set('y', { ...entry(1000), ages: false, expiresAt: Infinity })
    b.set('z', entry(1000, 0, 10))
    expect(b.get('z', 20)).toBeUndefined()
    a.clear(true)
    expect(a.size).toBe(1)
    a.clear(false)
    expect([a.size, b.size, budget.entries, budget.usedBytes]).toEqual([0, 0, 0, 0])
  })

  it('an entry replaced under the same key is counted once', () => {
    const budget = new CacheBudget(1_000_000)
    const a = new ResponseCache(budget)
    for (let i = 0; i < 10; i++) a.set('same', entry(1000))
    expect(budget.entries).toBe(1)
    expect(a.size).toBe(1)
  })
})
