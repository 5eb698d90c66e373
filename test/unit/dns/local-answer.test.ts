import dnsPacket from 'dns-packet'
import { describe, expect, it } from 'vitest'
import { encodeLocalAnswer } from '../../../src/router/services/dns/local-answer.ts'
import { layoutOf, parseQuery, questionName, replyFrom, type ParsedQuery } from '../../../src/router/services/dns/wire.ts'
import { answerFromZone, compileZones } from '../../../src/router/services/dns/zone.ts'
import type { RouterConfig } from '../../../src/router/model/config.ts'

const zone = compileZones({
  guestNetworks: [{ id: 'net1', interface: 'guest', cidr: '10.1.1.0/24', routerIp: '10.1.1.1', domain: 'cloud.internal' }],
  dhcpHosts: [{ id: 'vm1', network: 'net1', mac: '02:00:00:00:00:01', ip: '10.1.1.10', hostname: 'vm-one' }],
} as unknown as RouterConfig, 1)[0]!

/** A query whose name is the given labels, byte for byte. */
function rawQuery(labels: readonly Buffer[], qtype = 1): Uint8Array {
  const name = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.of(l.length), l])), Buffer.of(0)])
  return new Uint8Array(Buffer.concat([Buffer.from('0b5601000001000000000000', 'hex'), name, Buffer.of(qtype >> 8, qtype & 255, 0, 1)]))
}

function local(query: Uint8Array): Uint8Array | undefined {
  const q = parseQuery(query) as ParsedQuery
  const name = questionName(query)
  const a = answerFromZone(zone, name, q.qtype)
  return a === undefined ? undefined : encodeLocalAnswer(a, name, query, q)
}

describe('local answers carry the query’s own question', () => {
  const cases = [
    { name: 'a label of one high byte (the issue’s query)', labels: [Buffer.of(0x80)] },
    { name: 'a dot inside a label', labels: [Buffer.from('a.b'), Buffer.from('cloud'), Buffer.from('internal')] },
    { name: 'control bytes and 0xff inside a label', labels: [Buffer.of(0x76, 0x00, 0x0a, 0xff), Buffer.from('cloud'), Buffer.from('internal')] },
    { name: 'a host name glued to more by an escaped dot', labels: [Buffer.from('vm-one.x'), Buffer.from('cloud'), Buffer.from('internal')] },
  ]
  for (const c of cases) {
    it(`${c.name}: well formed, question byte for byte, and again when served from the stored bytes`, () => {
      const query = rawQuery(c.labels)
      const stored = local(query)
      expect(stored).toBeDefined()
      expect(layoutOf(stored!)).toBeDefined()
      const q = parseQuery(query) as ParsedQuery
      expect(Buffer.from(stored!.subarray(12, q.questionEnd))).toEqual(Buffer.from(query.subarray(12, q.questionEnd)))
      const reply = replyFrom(stored!, [], 0, query, q, 512)
      expect(layoutOf(reply)).toBeDefined()
      expect((dnsPacket.decode(Buffer.from(reply)) as { rcode?: string }).rcode).toBe('NXDOMAIN')
    })
  }

  it('an ordinary name decodes the same as before: the answer, the question, the flags', () => {
    const query = new Uint8Array(dnsPacket.encode({ type: 'query', id: 9, questions: [{ name: 'VM-One.cloud.internal', type: 'A' }] }))
    const reply = dnsPacket.decode(Buffer.from(local(query)!))
    expect(reply.questions).toEqual([{ name: 'VM-One.cloud.internal', type: 'A', class: 'IN' }])
    expect(reply.answers).toMatchObject([{ type: 'A', name: 'vm-one.cloud.internal', data: '10.1.1.10', ttl: 60 }])
    expect(reply.flag_aa).toBe(true)
  })
})
