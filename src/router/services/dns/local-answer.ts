import dnsPacket from 'dns-packet'
import { HEADER, RCODE, type ParsedQuery } from './wire.ts'
import type { ZoneAnswer } from './zone.ts'

/**
 * The wire bytes of an authoritative answer from the zone (dns/zone.ts). The question section
 * is the query's own bytes: a name read from the wire may hold bytes a text name cannot say
 * (a dot, a control or a high byte inside a label, shown escaped as \DDD), and dns-packet
 * would encode such a name as different labels, giving a reply whose question is not the
 * client's, stored in the cache and copied into every later reply. Pure.
 */

/**
 * Pure. Undefined when the answer would need the query name inside a record and that name has
 * escaped bytes (the caller refuses it); the zone never answers records for such a name, since
 * host names are plain labels, so this is a guard, not a path.
 */
export function encodeLocalAnswer(answer: ZoneAnswer, name: string, query: Uint8Array, q: ParsedQuery): Uint8Array | undefined {
  if (name.includes('\\') && answer.answers.some((r) => r.name === name)) return undefined
  const body = dnsPacket.encode({
    // dns-packet writes the rcode only from the low bits of flags.
    type: 'response', id: 0, flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | (answer.rcode === 'NXDOMAIN' ? RCODE.NXDOMAIN : RCODE.NOERROR),
    questions: [], answers: answer.answers, authorities: answer.authorities,
  } as dnsPacket.Packet)
  // dns-packet does not compress names, so no record points into the question it did not write.
  const question = query.subarray(HEADER, q.questionEnd)
  // From node's shared pool: a cached answer is ~100 bytes, and its own ArrayBuffer would cost more than that.
  const out: Uint8Array = Buffer.allocUnsafe(body.length + question.length)
  out.set(body.subarray(0, HEADER))
  out[4] = 0
  out[5] = 1
  out.set(question, HEADER)
  out.set(body.subarray(HEADER), HEADER + question.length)
  return out
}
