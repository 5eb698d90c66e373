import { describe, expect, it } from 'vitest'
import { planConntrack } from '../../../src/router/plan/conntrack.ts'

describe('planConntrack', () => {
  it('clears UDP entries of an IP whose UDP forward went, all entries of a removed static NAT, nothing for unchanged IPs', () => {
    const before = new Map([
      ['203.0.113.12', ['udp 5000-5000 10.1.1.10:5000 0.0.0.0/0', 'udp 6000-6001 10.1.1.10:6000 0.0.0.0/0']],
      ['203.0.113.11', ['static 10.1.1.11']],
      ['198.51.100.10', ['udp 53-53 10.1.1.10:53 0.0.0.0/0']],
    ])
    const after = new Map([
      ['203.0.113.12', ['udp 5000-5000 10.1.1.10:5000 0.0.0.0/0']],
      ['198.51.100.10', ['udp 53-53 10.1.1.10:53 0.0.0.0/0']],
    ])
    expect(planConntrack(before, after)).toEqual([
      ['-D', '--orig-dst', '203.0.113.11'], ['-D', '--reply-dst', '203.0.113.11'],
      ['-D', '-p', 'udp', '--orig-dst', '203.0.113.12'],
    ])
    expect(planConntrack(after, after)).toEqual([])
  })

  it('compares thousands of UDP forwards of one IP in linear time: one gone among 20,000 is found', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `udp ${10_000 + i}-${10_000 + i} 10.1.1.10:${10_000 + i} 0.0.0.0/0`)
    const before = new Map([['203.0.113.12', keys]])
    const after = new Map([['203.0.113.12', keys.slice(1)]])
    expect(planConntrack(before, after)).toEqual([['-D', '-p', 'udp', '--orig-dst', '203.0.113.12']])
    expect(planConntrack(after, new Map(after))).toEqual([])
  })
})
