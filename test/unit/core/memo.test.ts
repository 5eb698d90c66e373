import { describe, expect, it } from 'vitest'
import { memoize } from '../../../src/core/memo.ts'

describe('memoize', () => {
  const counted = () => {
    let calls = 0
    const f = memoize((o: { n: number }) => ({ double: o.n * 2, call: ++calls }))
    return { f, calls: () => calls }
  }

  it('computes once per object, by identity not content', () => {
    const { f, calls } = counted()
    const a = { n: 1 }
    expect(f(a)).toBe(f(a))
    expect(f({ n: 1 })).not.toBe(f(a))
    expect(calls()).toBe(2)
  })

  it('leaves no trace in JSON, keys or spread copies (a changed copy is computed anew)', () => {
    const { f } = counted()
    const a = { n: 1 }
    f(a)
    expect(JSON.stringify(a)).toBe('{"n":1}')
    expect(Object.keys(a)).toEqual(['n'])
    expect(f({ ...a, n: 2 }).double).toBe(4)
  })

  it('keeps separate memos apart on the same object', () => {
    const a = { n: 3 }
    const double = memoize((o: { n: number }) => ({ v: o.n * 2 }))
    const square = memoize((o: { n: number }) => ({ v: o.n * o.n }))
    expect([double(a).v, square(a).v, double(a).v]).toEqual([6, 9, 6])
  })

  it('computes each time for a frozen object instead of throwing', () => {
    const { f, calls } = counted()
    const a = Object.freeze({ n: 1 })
    expect(f(a).double).toBe(2)
    expect(f(a).double).toBe(2)
    expect(calls()).toBe(2)
  })
})
