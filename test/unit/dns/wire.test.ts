import dnsPacket from 'dns-packet'
import { describe, expect, it } from 'vitest'
import { layoutOf, parseQuery, questionName, replyFrom, truncatedReply, withoutOpt, type ParsedQuery } from '../../../src/router/services/dns/wire.ts'

const query = (name: string, type: dnsPacket.RecordType, edns = false, id = 0x1234) => new Uint8Array(dnsPacket.encode({
  type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }],
  additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer] : [],
}))

describe('DNS wire hot path', () => {
  it('reads header and question, lower-casing the name, and the EDNS0 size', () => {
    const q = parseQuery(query('VM-One.Cloud.Internal', 'AAAA', true)) as ParsedQuery
    expect(q).toMatchObject({ id: 0x1234, qtype: 28, qclass: 1, ednsSize: 4096 })
    expect(questionName(query('VM-One.Cloud.Internal', 'AAAA'))).toBe('vm-one.cloud.internal')
    expect(q.key).toBe((parseQuery(query('vm-one.cloud.INTERNAL', 'AAAA')) as ParsedQuery).key)
    expect((parseQuery(query('a.b', 'A')) as ParsedQuery).ednsSize).toBeUndefined()
  })

  it('names what is wrong with a bad query', () => {
    const good = query('a.example', 'A')
    expect(parseQuery(good.subarray(0, 10))).toBe('short')
    const response = good.slice(); response[2] = (response[2] as number) | 0x80
    expect(parseQuery(response)).toBe('not-a-query')
    const twoQuestions = good.slice(); twoQuestions[5] = 2
    expect(parseQuery(twoQuestions)).toBe('counts')
    const badLabel = good.slice(); badLabel[12] = 70
    expect(parseQuery(badLabel)).toBe('name')
    const notify = good.slice(); notify[2] = ((notify[2] as number) & 0x87) | (4 << 3)
    expect(parseQuery(notify)).toBe('opcode')
  })

  it('never throws on random or truncated bytes', () => {
    let seed = 99
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255
    const good = query('host.example.org', 'A', true)
    for (let i = 0; i < 20_000; i++) {
      const buf = i % 2 ? Uint8Array.from({ length: rnd() % 100 }, rnd) : good.slice(0, rnd() % good.length)
      expect(() => { parseQuery(buf); layoutOf(buf) }).not.toThrow()
    }
  })

  it('lays out a response: TTL offsets, the lowest answer TTL, the negative TTL from the SOA, the OPT record', () => {
    const positive = new Uint8Array(dnsPacket.encode({
      type: 'response', id: 1, questions: [{ name: 'a.example', type: 'A' }],
      answers: [{ type: 'A', name: 'a.example', ttl: 300, data: '192.0.2.1' }, { type: 'A', name: 'a.example', ttl: 120, data: '192.0.2.2' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as dnsPacket.Answer],
    }))
    const l = layoutOf(positive)
    expect(l).toMatchObject({ rcode: 0, cacheSeconds: 120 })
    expect(l?.ttlOffsets).toHaveLength(2)
    expect(l?.optAt).toBeGreaterThan(0)
    const plain = withoutOpt(positive, l?.optAt ?? -1)
    expect(dnsPacket.decode(Buffer.from(plain)).additionals).toEqual([])
    const negative = new Uint8Array(dnsPacket.encode({
      type: 'response', id: 1, flags: 3 /* NXDOMAIN */, questions: [{ name: 'x.example', type: 'A' }],
      authorities: [{ type: 'SOA', name: 'example', ttl: 900, data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 } }],
    } as dnsPacket.Packet))
    expect(layoutOf(negative)).toMatchObject({ rcode: 3, cacheSeconds: 60 })
    expect(layoutOf(negative.subarray(0, negative.length - 3))).toBeUndefined()
  })

  it("builds a client's reply: its id, question case and RD flag, aged TTLs, OPT for EDNS0, TC when too big", () => {
    const stored = new Uint8Array(dnsPacket.encode({
      type: 'response', id: 0, flags: dnsPacket.RECURSION_AVAILABLE, questions: [{ name: 'a.example', type: 'A' }],
      answers: [{ type: 'A', name: 'a.example', ttl: 300, data: '192.0.2.1' }],
    }))
    const layout = layoutOf(stored)
    const raw = query('A.Example', 'A', true, 0xbeef)
    const q = parseQuery(raw) as ParsedQuery
    const reply = replyFrom(stored, layout?.ttlOffsets ?? [], 100, raw, q, 1232)
    const d = dnsPacket.decode(Buffer.from(reply))
    expect(d.id).toBe(0xbeef)
    expect(d.questions?.[0]?.name).toBe('A.Example')
    expect(d.flag_rd).toBe(true)
    expect(d.answers?.[0]).toMatchObject({ ttl: 200, data: '192.0.2.1' })
    expect(d.additionals?.[0]?.type).toBe('OPT')
    const tc = dnsPacket.decode(Buffer.from(replyFrom(stored, [], 0, raw, q, 20)))
    expect(tc.flag_tc).toBe(true)
    expect(tc.answers).toEqual([])
    expect(dnsPacket.decode(Buffer.from(truncatedReply(raw, q))).questions?.[0]?.name).toBe('A.Example')
  })
})
