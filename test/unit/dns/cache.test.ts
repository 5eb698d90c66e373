import { describe, expect, it } from 'vitest'
import { ResponseCache } from '../../../src/router/services/dns/cache.ts'
import { CacheBudget } from '../../../src/router/services/dns/cache-budget.ts'

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

  it('a busy network past its share evicts its own least recently used entries, not a quiet network\'s', () => {
    const budget = new CacheBudget(20_000)
    const quiet = new ResponseCache(budget)
    const busy = new ResponseCache(budget)
    quiet.set('old', entry(1000))
    quiet.set('used', entry(1000))
    for (let i = 0; i < 10; i++) busy.set(`b${i}`, entry(1000))
    // Asked again more than a second after it was stored: moved to the young end of its cache.
    expect(busy.get('b1', 2000)).toBeDefined()
    // About 17 entries fit: 10 more push out busy's own oldest (b0, b2, b3, ...), not b1, just used.
    for (let i = 10; i < 20; i++) busy.set(`b${i}`, entry(1000, 2000))
    expect(quiet.get('old', 2000)).toBeDefined()
    expect(quiet.get('used', 2000)).toBeDefined()
    expect(busy.get('b0', 2000)).toBeUndefined()
    expect(busy.get('b1', 2000)).toBeDefined()
    expect(busy.get('b19', 2000)).toBeDefined()
    expect(budget.usedBytes).toBeLessThanOrEqual(20_000)
  })

  it('a network within its share takes room from the largest cache, oldest entries first', () => {
    const budget = new CacheBudget(20_000)
    const big = new ResponseCache(budget)
    const small = new ResponseCache(budget)
    for (let i = 0; i < 17; i++) big.set(`g${i}`, entry(1000))
    for (let i = 0; i < 3; i++) small.set(`s${i}`, entry(1000))
    expect(small.size).toBe(3)
    expect(big.get('g0', 0)).toBeUndefined()
    expect(big.get('g16', 0)).toBeDefined()
    expect(budget.usedBytes).toBeLessThanOrEqual(20_000)
  })

  it('a network no longer served gives back its bytes and its share', () => {
    const budget = new CacheBudget(20_000)
    const gone = new ResponseCache(budget)
    const stays = new ResponseCache(budget)
    for (let i = 0; i < 5; i++) gone.set(`x${i}`, entry(1000))
    gone.close()
    expect([budget.entries, budget.usedBytes]).toEqual([0, 0])
    // Alone under the budget now: it may fill all of it.
    for (let i = 0; i < 17; i++) stays.set(`y${i}`, entry(1000))
    expect(stays.size).toBe(17)
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
