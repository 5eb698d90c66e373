import { describe, expect, it } from 'vitest'
import { UpstreamSlots } from '../../../src/router/services/dns/upstream-slots.ts'

describe('upstream queries in flight', () => {
  it('a network gets at most its own cap', () => {
    const s = new UpstreamSlots(10, 3)
    expect([1, 2, 3, 4].map(() => s.acquire('a'))).toEqual([true, true, true, false])
    expect(s.acquire('b')).toBe(true)
    s.release('a')
    expect(s.acquire('a')).toBe(true)
  })

  it('all networks together get at most the global cap', () => {
    const s = new UpstreamSlots(5, 3)
    const got = ['a', 'a', 'a', 'b', 'b', 'b', 'c'].map((n) => s.acquire(n))
    expect(got).toEqual([true, true, true, true, true, false, false])
    expect(s.inFlight).toBe(5)
    s.release('b')
    expect(s.acquire('c')).toBe(true)
  })
})
