import { describe, expect, it } from 'vitest'
import { planConntrack } from '../../../src/router/plan/conntrack.ts'
import { localTcpKey, udpNatKey } from '../../../src/router/render/nat-state.ts'

describe('planConntrack', () => {
  it('clears the UDP entries of exactly the forward that went, all entries of a removed static NAT, nothing for unchanged IPs', () => {
    const before = new Map([
      ['203.0.113.12', [udpNatKey('10.1.1.10', 5000, 5000, 'pf 5000 0.0.0.0/0'), udpNatKey('10.1.1.11', 6000, 6001, 'pf 6000 0.0.0.0/0')]],
      ['203.0.113.11', ['static 10.1.1.11']],
      ['198.51.100.10', [udpNatKey('10.1.1.10', 53, 53, 'pf 53 0.0.0.0/0')]],
    ])
    const after = new Map([
      ['203.0.113.12', [udpNatKey('10.1.1.10', 5000, 5000, 'pf 5000 0.0.0.0/0')]],
      ['198.51.100.10', [udpNatKey('10.1.1.10', 53, 53, 'pf 53 0.0.0.0/0')]],
    ])
    expect(planConntrack(before, after)).toEqual([
      ['-D', '--orig-dst', '203.0.113.11'], ['-D', '--reply-dst', '203.0.113.11'],
      ['-D', '-p', 'udp', '--orig-dst', '203.0.113.12', '--reply-src', '10.1.1.11'],
    ])
    expect(planConntrack(after, after)).toEqual([])
  })

  it('a single public port narrows the deletion to it; a removed load-balancer backend clears only its flows', () => {
    const a = udpNatKey('10.1.1.10', 53, 53, 'lb dns 53')
    const b = udpNatKey('10.1.1.12', 53, 53, 'lb dns 53')
    expect(planConntrack(new Map([['203.0.113.12', [a, b]]]), new Map([['203.0.113.12', [a]]]))).toEqual([
      ['-D', '-p', 'udp', '--orig-dst', '203.0.113.12', '--reply-src', '10.1.1.12', '--orig-port-dst', '53'],
    ])
  })

  it('compares thousands of UDP forwards of one IP in linear time: one gone among 20,000 is found', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => udpNatKey('10.1.1.10', 10_000 + i, 10_000 + i, `pf ${10_000 + i} 0.0.0.0/0`))
    const before = new Map([['203.0.113.12', keys]])
    const after = new Map([['203.0.113.12', keys.slice(1)]])
    expect(planConntrack(before, after)).toEqual([['-D', '-p', 'udp', '--orig-dst', '203.0.113.12', '--reply-src', '10.1.1.10', '--orig-port-dst', '10000']])
    expect(planConntrack(after, new Map(after))).toEqual([])
  })

  it('ports a local HAProxy stops serving (mode http → l4, or the rule gone) lose their TCP entries; a change between http and tls keeps them', () => {
    const ip = '203.0.113.10'
    const http = new Map([[ip, [localTcpKey(80, 80)]]])
    expect(planConntrack(http, new Map())).toEqual([['-D', '-p', 'tcp', '--orig-dst', ip, '--orig-port-dst', '80']])
    expect(planConntrack(http, new Map([[ip, [localTcpKey(80, 80)]]]))).toEqual([])
    expect(planConntrack(new Map([[ip, [localTcpKey(8000, 8001)]]]), new Map())).toEqual([
      ['-D', '-p', 'tcp', '--orig-dst', ip, '--orig-port-dst', '8000'], ['-D', '-p', 'tcp', '--orig-dst', ip, '--orig-port-dst', '8001'],
    ])
    expect(planConntrack(new Map([[ip, [localTcpKey(1000, 2000)]]]), new Map())).toEqual([['-D', '-p', 'tcp', '--orig-dst', ip]])
  })
})
