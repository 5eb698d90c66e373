import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signatureKey, UsedGrantStore } from '../../../../src/storage/upload/used-grants.ts'
import { tempDir } from './fixtures.ts'

let work: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => { work = await tempDir('used-grants-') })
afterAll(async () => { await work.remove() })

let n = 0
function store(clock: { t: number }, maxEntries = 100, path = join(work.path, `g-${++n}.jsonl`)) {
  const s = new UsedGrantStore(path, { maxEntries, now: () => clock.t, graceMs: 1000 })
  s.open()
  return { s, path }
}

describe('UsedGrantStore', () => {
  it('remembers a grant by uuid and by signature, across a reopen', () => {
    const clock = { t: 1_000_000 }
    const { s, path } = store(clock)
    s.add('u1', signatureKey('sig1'), clock.t + 60_000)
    expect(s.has('u1', 'other')).toBe(true)
    expect(s.has('other', signatureKey('sig1'))).toBe(true)
    expect(s.has('u2', signatureKey('sig2'))).toBe(false)
    s.close()
    expect(readFileSync(path, 'utf8')).not.toContain('sig1')
    const again = new UsedGrantStore(path, { maxEntries: 100, now: () => clock.t })
    again.open()
    expect(again.has('u1', 'x')).toBe(true)
    again.close()
  })

  it('forgets a grant once past its expiry plus the grace, and compacts the file on open', () => {
    const clock = { t: 1_000_000 }
    const { s, path } = store(clock)
    s.add('old', 'k-old', clock.t + 100)
    s.add('new', 'k-new', clock.t + 100_000)
    clock.t += 100 + 1000 + 1
    expect(s.prune()).toBeGreaterThan(0)
    expect(s.has('old', 'x')).toBe(false)
    expect(s.has('new', 'x')).toBe(true)
    s.close()
    const reopened = new UsedGrantStore(path, { maxEntries: 100, now: () => clock.t, graceMs: 1000 })
    reopened.open()
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(1)
    reopened.close()
  })

  it('is bounded: a full set of unexpired grants refuses more (ERR_UPLOAD_BUSY), never forgets early', () => {
    const clock = { t: 1_000_000 }
    const { s } = store(clock, 2)
    s.add('a', 'ka', clock.t + 10_000)
    s.add('b', 'kb', clock.t + 10_000)
    expect(() => s.add('c', 'kc', clock.t + 10_000)).toThrow(expect.objectContaining({ code: 'ERR_UPLOAD_BUSY' }))
    expect(s.has('a', 'x') && s.has('b', 'x')).toBe(true)
    clock.t += 20_000
    s.add('c', 'kc', clock.t + 10_000)
    expect(s.size).toBe(1)
    s.close()
  })

  it('cuts a torn last line and keeps lines after a damaged one', () => {
    const clock = { t: 1_000_000 }
    const path = join(work.path, 'torn.jsonl')
    writeFileSync(path, `${JSON.stringify({ u: 'a', s: 'ka', e: clock.t + 10_000 })}\n{"u":"b","s":"kb","e":`)
    const { s } = store(clock, 100, path)
    expect(s.has('a', 'x')).toBe(true)
    expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true)
    s.add('c', 'kc', clock.t + 10_000)
    s.close()
    appendFileSync(path, `garbage\n${JSON.stringify({ u: 'd', s: 'kd', e: clock.t + 10_000 })}\n`)
    const { s: s2 } = store(clock, 100, path)
    expect(['a', 'c', 'd'].map((u) => s2.has(u, 'x'))).toEqual([true, true, true])
    expect(readFileSync(path, 'utf8')).not.toContain('garbage')
    s2.close()
  })
})
