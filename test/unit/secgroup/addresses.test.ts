import { describe, expect, it } from 'vitest'
import { formatIpv6, linkLocalOf, parseIpv6, parsePeerCidr } from '../../../src/router/secgroup/addresses.ts'

describe('security-group addresses', () => {
  it('IPv6 text round-trips in RFC 5952 form', () => {
    for (const [text, canonical] of [['2001:db8::1', '2001:db8::1'], ['::', '::'], ['fe80:0:0:0:1:0:0:1', 'fe80::1:0:0:1'], ['2001:DB8:0:0:1::', '2001:db8:0:0:1::'], ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8']]) {
      expect(formatIpv6(parseIpv6(text as string) as bigint), text).toBe(canonical)
    }
    expect(parseIpv6('10.0.0.1')).toBeUndefined()
    expect(parseIpv6('::ffff:10.0.0.1')).toBeUndefined()
  })

  it('a peer network is v4 or v6, canonical, without host bits', () => {
    expect(parsePeerCidr('10.0.0.0/8')).toEqual({ family: 4, cidr: '10.0.0.0/8' })
    expect(parsePeerCidr('2001:DB8::/32')).toEqual({ family: 6, cidr: '2001:db8::/32' })
    expect(parsePeerCidr('::/0')).toEqual({ family: 6, cidr: '::/0' })
    expect(parsePeerCidr('2001:db8::1/64')).toEqual({ problem: '"2001:db8::1/64" has host bits set; the network is 2001:db8::/64' })
    expect(parsePeerCidr('10.0.0.1/8')).toMatchObject({ problem: expect.stringContaining('10.0.0.0/8') })
    expect(parsePeerCidr('2001:db8::/129')).toHaveProperty('problem')
    expect(parsePeerCidr('10.0.0.1')).toHaveProperty('problem')
  })

  it("a MAC's EUI-64 link-local address", () => {
    expect(linkLocalOf('02:00:00:00:00:0a')).toBe('fe80::ff:fe00:a')
    expect(linkLocalOf('52:54:00:12:34:56')).toBe('fe80::5054:ff:fe12:3456')
  })
})
