import { describe, expect, it } from 'vitest'
import { MAX_CHAIN_NAME, MAX_IPSET_NAME, IPSET_SWAP_SUFFIX, ownedChain, ownedSet } from '../../../src/router/render/names.ts'
import { quoteArg } from '../../../src/router/render/rule-line.ts'

describe('kernel names', () => {
  it('chain names are exactly 28 characters whatever the key, and differ by key', () => {
    for (const role of ['FWI', 'DNAT', 'DNB', 'EGR', 'GIN']) {
      const a = ownedChain(role, '203.0.113.12')
      expect(a).toHaveLength(MAX_CHAIN_NAME)
      expect(a.startsWith(`SVM-${role}-`)).toBe(true)
      expect(ownedChain(role, '203.0.113.13')).not.toBe(a)
    }
  })

  it('ipset names leave room for the swap suffix under the 31-character kernel limit', () => {
    const name = ownedSet('S', 'fw:'.padEnd(200, 'x'))
    expect(name).toHaveLength(MAX_IPSET_NAME)
    expect((name + IPSET_SWAP_SUFFIX).length).toBeLessThanOrEqual(31)
  })

  it('restore arguments with spaces or quotes are quoted', () => {
    expect(quoteArg('svm:pf:a')).toBe('svm:pf:a')
    expect(quoteArg('a b')).toBe('"a b"')
    expect(quoteArg('say "hi"')).toBe('"say \\"hi\\""')
  })
})
