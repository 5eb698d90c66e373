import { describe, expect, it } from 'vitest'
import { clientMac, decodeDhcp, DhcpDecodeError, encodeDhcp, messageType, Opt, optionAddress, type DhcpMessage } from '../../../src/router/services/dhcp/codec.ts'
import { classlessRoutes, domainSearch } from '../../../src/router/services/dhcp/options.ts'

function message(options: [number, number[]][]): DhcpMessage {
  const chaddr = new Uint8Array(16)
  chaddr.set([0x02, 0, 0, 0, 0x10, 0x01])
  return {
    op: 1, htype: 1, hlen: 6, hops: 0, xid: 0xdeadbeef, secs: 3, flags: 0x8000,
    ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0x0a000001, chaddr,
    options: new Map(options.map(([k, v]) => [k, Uint8Array.from(v)])),
  }
}

describe('DHCP codec', () => {
  it('round-trips header fields and options', () => {
    const m = message([[Opt.MessageType, [1]], [Opt.RequestedIp, [10, 1, 1, 23]], [Opt.ParameterList, [1, 3, 6, 121]]])
    const back = decodeDhcp(encodeDhcp(m))
    expect(back).toMatchObject({ op: 1, htype: 1, hlen: 6, xid: 0xdeadbeef, secs: 3, flags: 0x8000, giaddr: 0x0a000001 })
    expect(clientMac(back)).toBe('02:00:00:00:10:01')
    expect(messageType(back)).toBe(1)
    expect(optionAddress(back, Opt.RequestedIp)).toBe(0x0a010117)
    expect([...(back.options.get(Opt.ParameterList) ?? [])]).toEqual([1, 3, 6, 121])
  })

  it('splits a value over 255 bytes into several options and joins them back (RFC 3396)', () => {
    const long = Array.from({ length: 600 }, (_, i) => i & 255)
    const bytes = encodeDhcp(message([[Opt.MessageType, [2]], [Opt.DomainSearch, long]]))
    // 240 header + 3 (type) + 600 + 3 * 2 headers + 1 end
    expect(bytes.length).toBe(240 + 3 + 606 + 1)
    expect([...(decodeDhcp(bytes).options.get(Opt.DomainSearch) ?? [])]).toEqual(long)
  })

  it('reads options overloaded into the file and sname fields (RFC 2132 §9.3)', () => {
    const bytes = encodeDhcp(message([[Opt.MessageType, [1]], [Opt.Overload, [3]]]))
    bytes.set([Opt.RequestedIp, 4, 10, 0, 0, 9, 255], 108)
    bytes.set([Opt.Hostname, 2, 0x61, 0x62, 255], 44)
    const m = decodeDhcp(bytes)
    expect(optionAddress(m, Opt.RequestedIp)).toBe(0x0a000009)
    expect([...(m.options.get(Opt.Hostname) ?? [])]).toEqual([0x61, 0x62])
  })

  it('rejects short, cookie-less and truncated-option datagrams with a code', () => {
    const codeOf = (b: Uint8Array) => { try { decodeDhcp(b); return 'ok' } catch (e) { return (e as DhcpDecodeError).code } }
    expect(codeOf(new Uint8Array(100))).toBe('ERR_DHCP_SHORT')
    expect(codeOf(new Uint8Array(300))).toBe('ERR_DHCP_MAGIC')
    const bytes = encodeDhcp(message([[Opt.MessageType, [1]]]))
    const cut = Uint8Array.from([...bytes.subarray(0, 240), Opt.Hostname, 10, 1, 2])
    expect(codeOf(cut)).toBe('ERR_DHCP_OPTIONS')
  })

  it('drops a datagram larger than any DHCP message can be (1,500 bytes), before reading its options', () => {
    const codeOf = (b: Uint8Array) => { try { decodeDhcp(b); return 'ok' } catch (e) { return (e as DhcpDecodeError).code } }
    const base = encodeDhcp(message([[Opt.MessageType, [1]]]))
    const padded = (size: number) => { const b = new Uint8Array(size); b.set(base.subarray(0, base.length - 1)); b[size - 1] = Opt.End; return b }
    expect(codeOf(padded(1500))).toBe('ok')
    expect(codeOf(padded(1501))).toBe('ERR_DHCP_TOO_LARGE')
    expect(codeOf(padded(65_000))).toBe('ERR_DHCP_TOO_LARGE')
  })

  it('joins up to 16 instances of one option in order, and refuses more (RFC 3396 needs at most a handful)', () => {
    const codeOf = (b: Uint8Array) => { try { decodeDhcp(b); return 'ok' } catch (e) { return (e as DhcpDecodeError).code } }
    const withPieces = (n: number) => {
      const head = encodeDhcp(message([[Opt.MessageType, [1]]]))
      const pieces = Array.from({ length: n }, (_, i) => [Opt.Hostname, 3, 0x61 + (i % 26), 0x62, 0x63])
      return Uint8Array.from([...head.subarray(0, head.length - 1), ...pieces.flat(), Opt.End])
    }
    const joined = decodeDhcp(withPieces(16)).options.get(Opt.Hostname) ?? new Uint8Array(0)
    expect(joined.length).toBe(48)
    expect([...joined.subarray(0, 6)]).toEqual([0x61, 0x62, 0x63, 0x62, 0x62, 0x63])
    expect(joined[45]).toBe(0x61 + 15)
    expect(codeOf(withPieces(17))).toBe('ERR_DHCP_OPTIONS')
    // Many zero-length instances (the cheapest way to make many pieces) are refused the same way.
    const head = encodeDhcp(message([[Opt.MessageType, [1]]]))
    const empties = Uint8Array.from([...head.subarray(0, head.length - 1), ...Array.from({ length: 600 }, () => [Opt.Hostname, 0]).flat(), Opt.End])
    expect(codeOf(empties)).toBe('ERR_DHCP_OPTIONS')
  })

  it('never throws anything but a DhcpDecodeError on random and truncated input', () => {
    let seed = 12345
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255
    const valid = encodeDhcp(message([[Opt.MessageType, [3]], [Opt.RequestedIp, [10, 0, 0, 1]], [Opt.ServerId, [10, 0, 0, 1]]]))
    for (let i = 0; i < 5000; i++) {
      const len = i % 2 === 0 ? rand() * 2 : rand() % valid.length
      const buf = i % 2 === 0 ? Uint8Array.from({ length: len }, rand) : valid.slice(0, len)
      if (i % 3 === 0 && buf.length > 240) buf.set([0x63, 0x82, 0x53, 0x63], 236)
      try { decodeDhcp(buf) } catch (e) { expect(e).toBeInstanceOf(DhcpDecodeError) }
    }
  })
})

describe('DHCP option encoders', () => {
  it('writes only the significant destination octets of classless routes (RFC 3442 examples)', () => {
    expect([...classlessRoutes([{ destination: 0, prefix: 0, gateway: 0x0a000001 }])]).toEqual([0, 10, 0, 0, 1])
    expect([...classlessRoutes([{ destination: 0x0a000000, prefix: 8, gateway: 0x0a010101 }])]).toEqual([8, 10, 10, 1, 1, 1])
    expect([...classlessRoutes([{ destination: 0xac100000, prefix: 12, gateway: 0x0a000001 }])]).toEqual([12, 172, 16, 10, 0, 0, 1])
    expect([...classlessRoutes([{ destination: 0xc0a80180, prefix: 25, gateway: 0x0a000001 }])]).toEqual([25, 192, 168, 1, 128, 10, 0, 0, 1])
  })

  it('compresses the domain search list with pointers (RFC 3397 §2 example)', () => {
    const bytes = domainSearch(['eng.apple.com', 'marketing.apple.com'])
    const expected = [3, ...'eng'.split('').map((c) => c.charCodeAt(0)), 5, ...'apple'.split('').map((c) => c.charCodeAt(0)),
      3, ...'com'.split('').map((c) => c.charCodeAt(0)), 0,
      9, ...'marketing'.split('').map((c) => c.charCodeAt(0)), 0xc0, 4]
    expect([...bytes]).toEqual(expected)
  })
})
