import dnsPacket from 'dns-packet'
import { describe, expect, it } from 'vitest'
import { problemReply, unservedReply } from '../../../src/router/services/dns/unserved.ts'
import { layoutOf, parseQuery, type ParsedQuery } from '../../../src/router/services/dns/wire.ts'

const opt = (version: number) => ({ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, ednsVersion: version } as unknown as dnsPacket.Answer)
const query = (type: string, opts: { version?: number; opcode?: number; klass?: string } = {}) => new Uint8Array(dnsPacket.encode({
  type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED | ((opts.opcode ?? 0) << 11),
  questions: [{ name: 'Vm-One.cloud.internal', type: type as dnsPacket.RecordType, class: (opts.klass ?? 'IN') as 'IN' }],
  additionals: opts.version === undefined ? [] : [opt(opts.version)],
} as dnsPacket.Packet))

/** rcode (with the OPT's extended bits), question count, OPT presence, and whether the question bytes are the query's. */
function shape(reply: Uint8Array | undefined, q: Uint8Array) {
  if (reply === undefined) return undefined
  const arcount = ((reply[10] as number) << 8) | (reply[11] as number)
  const optAt = reply.length - 11
  const hasOpt = arcount === 1 && reply[optAt + 2] === 41
  const ext = hasOpt ? (reply[optAt + 5] as number) : 0
  const questionEnd = hasOpt ? optAt : reply.length
  return {
    rcode: (ext << 4) | ((reply[3] as number) & 15), qd: reply[5], opt: hasOpt, version: hasOpt ? reply[optAt + 6] : undefined,
    question: Buffer.from(reply.subarray(12, questionEnd)).equals(Buffer.from(q.subarray(12, questionEnd))), wellFormed: layoutOf(reply) !== undefined,
  }
}

describe('replies to queries the server does not look up', () => {
  const cases = [
    { name: 'EDNS version 1 gets BADVERS (16), with our OPT at version 0', q: query('A', { version: 1 }), want: { rcode: 16, opt: true, version: 0, counter: 'badvers' } },
    { name: 'AXFR is refused, not answered empty', q: query('AXFR'), want: { rcode: 5, opt: false, counter: 'refused' } },
    { name: 'IXFR is refused', q: query('IXFR', { version: 0 }), want: { rcode: 5, opt: true, counter: 'refused' } },
    { name: 'class CH is refused', q: query('TXT', { klass: 'CH' }), want: { rcode: 5, opt: false, counter: 'refused' } },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const parsed = parseQuery(c.q) as ParsedQuery
      const r = unservedReply(c.q, parsed)
      expect(r?.counter).toBe(c.want.counter)
      expect(shape(r?.reply, c.q)).toMatchObject({ rcode: c.want.rcode, qd: 1, opt: c.want.opt, question: true, wellFormed: true, ...(c.want.version === undefined ? {} : { version: c.want.version }) })
    })
  }

  it('an ordinary EDNS0 query is left to the lookup', () => {
    const q = query('A', { version: 0 })
    expect(unservedReply(q, parseQuery(q) as ParsedQuery)).toBeUndefined()
  })

  it('NOTIMP (another opcode) keeps the question and the OPT, and is counted as notimp', () => {
    const q = query('A', { version: 0, opcode: 2 /* STATUS */ })
    expect(parseQuery(q)).toBe('opcode')
    const r = problemReply(q, 'opcode')
    expect(r?.counter).toBe('notimp')
    expect(shape(r?.reply, q)).toMatchObject({ rcode: 4, qd: 1, opt: true, question: true, wellFormed: true })
  })

  it('FORMERR keeps a question that reads; a name that does not read gets the header only; a response or a fragment gets nothing', () => {
    const withAnswer = new Uint8Array(dnsPacket.encode({
      type: 'query', id: 7, questions: [{ name: 'a.example', type: 'A' }], answers: [{ type: 'A', name: 'a.example', data: '192.0.2.1' }],
    }))
    expect(parseQuery(withAnswer)).toBe('counts')
    expect(shape(problemReply(withAnswer, 'counts')?.reply, withAnswer)).toMatchObject({ rcode: 1, qd: 1, opt: false, question: true, wellFormed: true })
    const badName = query('A'); badName[12] = 70
    expect(shape(problemReply(badName, 'name')?.reply, badName)).toMatchObject({ rcode: 1, qd: 0, wellFormed: true })
    expect(problemReply(badName, 'short')).toBeUndefined()
    expect(problemReply(badName, 'not-a-query')).toBeUndefined()
  })

  it('IXFR with the client SOA in its authority section is refused, not called malformed', () => {
    const ixfr = new Uint8Array(dnsPacket.encode({
      type: 'query', id: 7, questions: [{ name: 'cloud.internal', type: 'IXFR' }],
      authorities: [{ type: 'SOA', name: 'cloud.internal', data: { mname: 'a', rname: 'b', serial: 1, refresh: 0, retry: 0, expire: 0, minimum: 0 } }],
    } as dnsPacket.Packet))
    expect(parseQuery(ixfr)).toBe('counts')
    const r = problemReply(ixfr, 'counts')
    expect(r?.counter).toBe('refused')
    expect(shape(r?.reply, ixfr)).toMatchObject({ rcode: 5, qd: 1, question: true, wellFormed: true })
  })
})
