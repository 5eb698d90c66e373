import { describe, expect, it } from 'vitest'
import { cidrContains, cidrsOverlap, formatIpv4, parseCidr, parseIpv4 } from '../../../src/core/ipv4.ts'

describe('ipv4', () => {
  it.each([
    ['0.0.0.0', 0], ['10.1.1.5', 0x0a010105], ['255.255.255.255', 0xffffffff], ['192.0.2.10', 0xc000020a],
  ])('parses %s', (text, value) => {
    expect(parseIpv4(text)).toBe(value)
    expect(formatIpv4(value)).toBe(text)
  })

  it.each(['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', '1.2.3.', '.1.2.3', 'a.b.c.d', '1.2.3.4 ', '-1.2.3.4'])(
    'rejects %j', (text) => { expect(parseIpv4(text)).toBeUndefined() })

  it('CIDR containment and overlap', () => {
    const net = parseCidr('10.1.0.0/16')
    const sub = parseCidr('10.1.4.0/24')
    if (!net || !sub) throw new Error('parse')
    expect(cidrContains(net, parseIpv4('10.1.255.1') as number)).toBe(true)
    expect(cidrContains(net, parseIpv4('10.2.0.1') as number)).toBe(false)
    expect(cidrsOverlap(net, sub)).toBe(true)
    expect(parseCidr('10.0.0.0/33')).toBeUndefined()
    expect(parseCidr('0.0.0.0/0')).toEqual({ address: 0, prefix: 0 })
  })
})
